//! The parsed templates of [`Vault::render`](crate::Vault::render), kept by their text so
//! that rendering a text again does not parse it again.
//!
//! A template holds only text and secret names (the literal text, where each placeholder
//! goes, which name it is): never a value, so that the cache may live as long as the vault.
//! It is bounded twice: by count ([`MAX_TEMPLATES`]) and by the bytes of text it holds
//! ([`MAX_BYTES`], each template counted as its text plus its literal text); a text larger
//! than [`MAX_TEXT`] is parsed on every render and never kept. When full, the template used
//! least recently goes.
//!
//! A look-up hashes a sample of the text (its length, both ends, and a few words spread
//! over it), then compares the whole text with the kept one: a template is only used for
//! exactly its own text.

use std::collections::HashMap;
use std::hash::Hasher;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::Result;
use crate::name_index::NameHasher;
use crate::template::Template;

/// The most templates a vault keeps.
pub(crate) const MAX_TEMPLATES: usize = 256;

/// The most bytes of text the kept templates may hold together (text and literal text).
pub(crate) const MAX_BYTES: usize = 2 * 1024 * 1024;

/// The longest text whose template is kept.
pub(crate) const MAX_TEXT: usize = 256 * 1024;

/// One kept template and the text it was parsed from.
struct Kept {
    text: Box<str>,
    template: Arc<Template>,
}

impl Kept {
    /// The bytes it counts against [`MAX_BYTES`].
    fn bytes(&self) -> usize {
        self.text.len() + self.template.literal().len()
    }
}

/// A slot of the cache: the kept template, and when it was last used.
struct Slot {
    kept: Arc<Kept>,
    used: u64,
}

#[derive(Default)]
struct Inner {
    /// Templates by the hash of a sample of their text; texts whose samples collide share
    /// a bucket.
    buckets: HashMap<u64, Vec<Slot>>,
    count: usize,
    bytes: usize,
    /// A counter that orders uses.
    clock: u64,
}

/// The vault's cache of parsed templates; see the module docs.
#[derive(Default)]
pub(crate) struct TemplateCache {
    inner: Mutex<Inner>,
}

impl TemplateCache {
    fn inner(&self) -> MutexGuard<'_, Inner> {
        // Every update leaves the counts matching the buckets before it can panic.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The template of `text`: kept from an earlier render, or parsed now (and kept, when
    /// it fits).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTemplate`](crate::Error::InvalidTemplate), as [`Template::parse`]
    /// (a text that fails to parse is not kept).
    pub(crate) fn get_or_parse(&self, text: &str) -> Result<Arc<Template>> {
        if text.len() > MAX_TEXT {
            return Template::parse(text).map(Arc::new);
        }
        let hash = sample_hash(text);
        if let Some(template) = self.get(hash, text) {
            return Ok(template);
        }
        let template = Arc::new(Template::parse(text)?);
        self.keep(hash, text, &template);
        Ok(template)
    }

    /// The kept template of `text`, if there is one. The texts are compared outside the
    /// lock, so that renders of long texts do not wait for each other.
    fn get(&self, hash: u64, text: &str) -> Option<Arc<Template>> {
        // Texts of one length whose samples collide are rare: the first is held apart, so
        // that the usual look-up allocates nothing.
        let (first, more) = {
            let mut inner = self.inner();
            inner.clock += 1;
            let now = inner.clock;
            let bucket = inner.buckets.get_mut(&hash)?;
            let mut first: Option<Arc<Kept>> = None;
            let mut more: Vec<Arc<Kept>> = Vec::new();
            for slot in bucket
                .iter_mut()
                .filter(|slot| slot.kept.text.len() == text.len())
            {
                slot.used = now;
                match first {
                    None => first = Some(Arc::clone(&slot.kept)),
                    Some(_) => more.push(Arc::clone(&slot.kept)),
                }
            }
            (first, more)
        };
        first
            .into_iter()
            .chain(more)
            .find(|kept| *kept.text == *text)
            .map(|kept| Arc::clone(&kept.template))
    }

    /// Every kept text, with its template's literal text and names, for tests.
    #[cfg(test)]
    pub(crate) fn kept(&self) -> Vec<(String, String, Vec<String>)> {
        self.inner()
            .buckets
            .values()
            .flatten()
            .map(|slot| {
                let kept = &slot.kept;
                (
                    kept.text.to_string(),
                    kept.template.literal().to_owned(),
                    kept.template.names().to_vec(),
                )
            })
            .collect()
    }

    /// Keeps `template`, parsed from `text`, making room by dropping the templates used
    /// least recently.
    fn keep(&self, hash: u64, text: &str, template: &Arc<Template>) {
        let kept = Kept {
            text: text.into(),
            template: Arc::clone(template),
        };
        let bytes = kept.bytes();
        if bytes > MAX_BYTES {
            return;
        }
        let mut inner = self.inner();
        if inner
            .buckets
            .get(&hash)
            .is_some_and(|bucket| bucket.iter().any(|slot| *slot.kept.text == *text))
        {
            return; // another render kept it meanwhile
        }
        while inner.count >= MAX_TEMPLATES || inner.bytes + bytes > MAX_BYTES {
            if !inner.drop_least_recent() {
                break;
            }
        }
        inner.clock += 1;
        let used = inner.clock;
        inner.count += 1;
        inner.bytes += bytes;
        inner.buckets.entry(hash).or_default().push(Slot {
            kept: Arc::new(kept),
            used,
        });
    }

    /// How many templates are kept, and how many bytes they count.
    #[cfg(test)]
    fn size(&self) -> (usize, usize) {
        let inner = self.inner();
        (inner.count, inner.bytes)
    }
}

impl Inner {
    /// Drops the template used least recently; false when there is none.
    fn drop_least_recent(&mut self) -> bool {
        let oldest = self
            .buckets
            .iter()
            .flat_map(|(hash, bucket)| {
                bucket
                    .iter()
                    .enumerate()
                    .map(move |(at, slot)| (slot.used, *hash, at))
            })
            .min();
        let Some((_, hash, at)) = oldest else {
            return false;
        };
        if let Some(bucket) = self.buckets.get_mut(&hash) {
            let slot = bucket.swap_remove(at);
            self.count -= 1;
            self.bytes -= slot.kept.bytes();
            if bucket.is_empty() {
                self.buckets.remove(&hash);
            }
        }
        true
    }
}

/// A hash of `text` from a sample of it: its length, its first and last 64 bytes and 16
/// words spread over it (all of a text of 256 bytes or less). Cheap for long texts; the
/// whole text is compared afterwards.
fn sample_hash(text: &str) -> u64 {
    let bytes = text.as_bytes();
    let mut hasher = NameHasher::default();
    hasher.write_usize(bytes.len());
    if bytes.len() <= 256 {
        hasher.write(bytes);
    } else {
        hasher.write(&bytes[..64]);
        hasher.write(&bytes[bytes.len() - 64..]);
        let step = bytes.len() / 16;
        for word in 1..16 {
            let at = word * step;
            hasher.write(&bytes[at..at + 8]);
        }
    }
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_is_parsed_once_and_its_template_used_for_it_alone() {
        let cache = TemplateCache::default();
        let a = cache.get_or_parse("Bearer <<vault:a>>").unwrap();
        let again = cache.get_or_parse("Bearer <<vault:a>>").unwrap();
        assert!(Arc::ptr_eq(&a, &again), "kept and reused");
        let b = cache.get_or_parse("Bearer <<vault:b>>").unwrap();
        assert_eq!(b.names(), ["b"]);
        assert_eq!(cache.size().0, 2);
        // Long texts that differ only where the sample does not look are told apart.
        let long = |c: char| format!("{}{c}{}<<vault:x>>", "a".repeat(1010), "b".repeat(990));
        let (one, two) = (long('1'), long('2'));
        assert_eq!(
            sample_hash(&one),
            sample_hash(&two),
            "the sample misses the difference"
        );
        cache.get_or_parse(&one).unwrap();
        let other = cache.get_or_parse(&two).unwrap();
        assert!(other.literal().contains('2'));
        assert_eq!(cache.size().0, 4);
    }

    #[test]
    fn errors_are_not_kept() {
        let cache = TemplateCache::default();
        assert!(cache.get_or_parse("<<vault:bad name>>").is_err());
        assert!(cache.get_or_parse("<<vault:bad name>>").is_err());
        assert_eq!(cache.size(), (0, 0));
    }

    #[test]
    fn the_cache_is_bounded_by_count_and_bytes() {
        let cache = TemplateCache::default();
        for i in 0..MAX_TEMPLATES + 10 {
            cache
                .get_or_parse(&format!("text {i} <<vault:a>>"))
                .unwrap();
        }
        assert_eq!(cache.size().0, MAX_TEMPLATES);
        // The most recently used are kept: the first texts went.
        let kept = cache.get_or_parse(&format!("text {} <<vault:a>>", MAX_TEMPLATES + 9));
        assert!(kept.is_ok());
        assert_eq!(cache.size().0, MAX_TEMPLATES);

        let cache = TemplateCache::default();
        let big = MAX_TEXT - 16;
        for i in 0..20 {
            cache
                .get_or_parse(&format!("{i:02}{}<<vault:a>>", "x".repeat(big)))
                .unwrap();
            assert!(cache.size().1 <= MAX_BYTES, "{:?}", cache.size());
        }
        assert!(cache.size().0 < 20);
        let huge = "y".repeat(MAX_TEXT + 1);
        cache.get_or_parse(&huge).unwrap();
        let (count, bytes) = cache.size();
        assert!(bytes <= MAX_BYTES && count < 20);
        assert!(
            !cache.inner().buckets.contains_key(&sample_hash(&huge)),
            "a text over MAX_TEXT is never kept"
        );
    }

    #[test]
    fn least_recently_used_goes_first() {
        let cache = TemplateCache::default();
        let first = cache.get_or_parse("first <<vault:a>>").unwrap();
        for i in 1..MAX_TEMPLATES {
            cache.get_or_parse(&format!("text {i}")).unwrap();
        }
        // Used again, "first" is now the most recent; "text 1" is the least.
        let again = cache.get_or_parse("first <<vault:a>>").unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        cache.get_or_parse("one more").unwrap();
        let still = cache.get_or_parse("first <<vault:a>>").unwrap();
        assert!(Arc::ptr_eq(&first, &still), "kept: used recently");
        assert!(
            !cache.inner().buckets.contains_key(&sample_hash("text 1")),
            "dropped: used least recently"
        );
    }
}
