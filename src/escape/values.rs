//! The values a request is rendered with, found for each of its templates.

use secrecy::SecretString;

use crate::error::{Error, Result};
use crate::template::Template;

/// The values a request is rendered with: each of its distinct names with its value, by
/// position. A template bound to those names ([`Template::bind`]) finds each of its values
/// by position; any other by name.
pub(crate) struct Values<'v> {
    names: &'v [String],
    values: Vec<&'v SecretString>,
}

impl<'v> Values<'v> {
    /// `values[i]` is the value of `names[i]`.
    pub(crate) fn new(names: &'v [String], values: Vec<&'v SecretString>) -> Self {
        debug_assert_eq!(names.len(), values.len());
        Values { names, values }
    }

    /// The value of each of `template`'s names, in its order.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] for each name without a value, all at once.
    pub(super) fn of(&self, template: &Template) -> Result<Vec<&'v SecretString>> {
        let bound = template.bound();
        let mut found = Vec::with_capacity(template.names().len());
        let mut missing = Vec::new();
        for (i, name) in template.names().iter().enumerate() {
            // The binding is checked, never trusted: a value only goes where its name stands.
            let at = bound
                .get(i)
                .copied()
                .filter(|&at| self.names.get(at) == Some(name))
                .or_else(|| self.names.iter().position(|other| other == name));
            match at.and_then(|at| self.values.get(at)) {
                Some(value) => found.push(*value),
                None => missing.push(Error::not_found(name)),
            }
        }
        Error::gather(missing)?;
        Ok(found)
    }

    /// The value of `name`, if there is one.
    pub(super) fn get(&self, name: &str) -> Option<&'v SecretString> {
        let at = self.names.iter().position(|other| other == name)?;
        self.values.get(at).copied()
    }
}

/// Values from `(name, value)` pairs, for tests: [`get`](TestValues::get) lends them.
#[cfg(test)]
pub(crate) struct TestValues {
    names: Vec<String>,
    values: Vec<SecretString>,
}

#[cfg(test)]
impl TestValues {
    pub(crate) fn get(&self) -> Values<'_> {
        Values::new(&self.names, self.values.iter().collect())
    }
}

/// Values from `(name, value)` pairs, for tests.
#[cfg(test)]
pub(crate) fn values(pairs: &[(&str, &str)]) -> TestValues {
    TestValues {
        names: pairs.iter().map(|(k, _)| k.to_string()).collect(),
        values: pairs.iter().map(|(_, v)| SecretString::from(*v)).collect(),
    }
}
