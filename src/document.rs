//! The vault document: the JSON inside a vault file or an export, read and written by one
//! parser.
//!
//! `{"format": "request-vault", "version": 1, "secrets": […]}`, each secret
//! `{"name", "kind": "local", "value"}` or `{"name", "kind": "linked", "provider",
//! "reference"}`, with `allowed_domains`, `enabled`, `created_ms` and `updated_ms`
//! (milliseconds since the Unix epoch). Every field is checked here with the same parser that
//! accepts it in the API (names, domain patterns), so that what the vault accepts is what it
//! reads back. Members this version does not know (written by a newer one) are kept, per
//! document and per record, and written back unchanged. A malformed record is reported by
//! name (or position), and a name given twice is refused.

use std::collections::HashSet;
use std::fmt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::domain::DomainPattern;
use crate::error::{Error, Result};
use crate::name;

/// The `format` member of every vault document.
pub(crate) const FORMAT: &str = "request-vault";
/// The newest format version this crate writes and reads.
pub(crate) const VERSION: u32 = 1;

/// Members of a document or record that this version does not know.
pub(crate) type Unknown = Map<String, Value>;

/// The plaintext of a vault file or an export.
#[derive(Serialize)]
pub(crate) struct Document {
    pub(crate) format: String,
    pub(crate) version: u32,
    pub(crate) secrets: Vec<Record>,
    #[serde(flatten)]
    pub(crate) unknown: Unknown,
}

/// One secret in a document.
#[derive(Serialize)]
pub(crate) struct Record {
    pub(crate) name: String,
    #[serde(flatten)]
    pub(crate) value: RecordValue,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) allowed_domains: Vec<DomainPattern>,
    pub(crate) enabled: bool,
    pub(crate) created_ms: u64,
    pub(crate) updated_ms: u64,
    #[serde(flatten)]
    pub(crate) unknown: Unknown,
}

#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub(crate) enum RecordValue {
    /// A local secret; `value` is absent in a references-only export.
    Local {
        #[serde(skip_serializing_if = "Option::is_none")]
        value: Option<Zeroizing<String>>,
    },
    Linked {
        provider: String,
        reference: String,
    },
}

pub(crate) fn millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

pub(crate) fn from_millis(ms: u64) -> SystemTime {
    UNIX_EPOCH
        .checked_add(Duration::from_millis(ms))
        .unwrap_or(UNIX_EPOCH)
}

/// Counts the bytes a serialization writes, to size its buffer exactly.
struct Counter(usize);

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Document {
    pub(crate) fn new(secrets: Vec<Record>) -> Self {
        Document {
            format: FORMAT.to_owned(),
            version: VERSION,
            secrets,
            unknown: Unknown::new(),
        }
    }

    /// The JSON bytes, in a buffer of exactly their size, zeroized when dropped: the text is
    /// counted first, so that the buffer holding values is never grown.
    pub(crate) fn encode(&self) -> Zeroizing<Vec<u8>> {
        let mut counter = Counter(0);
        // Serializing plain data cannot fail.
        let _ = serde_json::to_writer_pretty(&mut counter, self);
        let mut out = Zeroizing::new(Vec::with_capacity(counter.0));
        let _ = serde_json::to_writer_pretty(&mut *out, self);
        out
    }

    /// Parses a document, checking its format and version first, then every record.
    ///
    /// # Errors
    ///
    /// [`Error::Corrupt`] for what is not a vault document, [`Error::UnsupportedVersion`]
    /// for a newer format, [`Error::CorruptRecord`] naming the first malformed record or a
    /// name given twice.
    pub(crate) fn decode(bytes: &[u8], path: &Path) -> Result<Self> {
        #[derive(Deserialize)]
        struct Header {
            format: String,
            version: u32,
        }
        let corrupt = |reason| Error::Corrupt {
            path: path.to_owned(),
            reason,
        };
        let header: Header = serde_json::from_slice(bytes)
            .map_err(|_| corrupt("the content is not a vault document"))?;
        if header.format != FORMAT {
            return Err(corrupt("the content is not a request-vault document"));
        }
        if header.version > VERSION {
            return Err(Error::UnsupportedVersion {
                path: path.to_owned(),
                found: header.version,
                supported: VERSION,
            });
        }
        let parsed: Parsed = serde_json::from_slice(bytes)
            .map_err(|_| corrupt("the document's structure is malformed"))?;
        let mut secrets = Vec::with_capacity(parsed.secrets.len());
        let mut seen = HashSet::with_capacity(parsed.secrets.len());
        for (index, record) in parsed.secrets.into_iter().enumerate() {
            let record = record.map_err(|(name, reason)| Error::CorruptRecord {
                path: path.to_owned(),
                name: name
                    .unwrap_or_else(|| format!("#{} (no name)", index + 1))
                    .into(),
                reason,
            })?;
            if !seen.insert(record.name.clone()) {
                return Err(Error::CorruptRecord {
                    path: path.to_owned(),
                    name: record.name.into(),
                    reason: "the name is given to more than one secret".into(),
                });
            }
            secrets.push(record);
        }
        Ok(Document {
            format: header.format,
            version: header.version,
            secrets,
            unknown: parsed.unknown,
        })
    }
}

/// A record that did not read: its name when it has a readable one, and what is wrong.
type Malformed = (Option<String>, Box<str>);

/// The document as read, before its records are checked.
struct Parsed {
    secrets: Vec<std::result::Result<Record, Malformed>>,
    unknown: Unknown,
}

impl<'de> Deserialize<'de> for Parsed {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct DocumentVisitor;
        impl<'de> Visitor<'de> for DocumentVisitor {
            type Value = Parsed;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a vault document")
            }

            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Parsed, A::Error> {
                let mut secrets = None;
                let mut unknown = Unknown::new();
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "format" | "version" => {
                            map.next_value::<IgnoredAny>()?;
                        }
                        "secrets" => secrets = Some(map.next_value::<Records>()?.0),
                        _ => {
                            let value = map.next_value::<Value>()?;
                            unknown.insert(key, value);
                        }
                    }
                }
                Ok(Parsed {
                    secrets: secrets.ok_or_else(|| de::Error::missing_field("secrets"))?,
                    unknown,
                })
            }
        }
        deserializer.deserialize_map(DocumentVisitor)
    }
}

struct Records(Vec<std::result::Result<Record, Malformed>>);

impl<'de> Deserialize<'de> for Records {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct RecordsVisitor;
        impl<'de> Visitor<'de> for RecordsVisitor {
            type Value = Records;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of secrets")
            }

            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Records, A::Error> {
                let mut records = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
                while let Some(record) = seq.next_element_seed(RecordSeed)? {
                    records.push(record);
                }
                Ok(Records(records))
            }
        }
        deserializer.deserialize_seq(RecordsVisitor)
    }
}

/// Reads one record without failing the document: what is wrong is kept with the record.
struct RecordSeed;

impl<'de> DeserializeSeed<'de> for RecordSeed {
    type Value = std::result::Result<Record, Malformed>;

    fn deserialize<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> std::result::Result<Self::Value, D::Error> {
        deserializer.deserialize_any(RecordVisitor)
    }
}

struct RecordVisitor;

/// A record's members as read, each checked once the whole record is in.
#[derive(Default)]
struct Fields {
    name: Option<Value>,
    kind: Option<Value>,
    value: Option<SecretField>,
    provider: Option<Value>,
    reference: Option<Value>,
    allowed_domains: Option<Value>,
    enabled: Option<Value>,
    created_ms: Option<Value>,
    updated_ms: Option<Value>,
    repeated: Option<String>,
    unknown: Unknown,
}

impl<'de> Visitor<'de> for RecordVisitor {
    type Value = std::result::Result<Record, Malformed>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a secret")
    }

    fn visit_map<A: MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        let mut fields = Fields::default();
        while let Some(key) = map.next_key::<String>()? {
            let slot = match key.as_str() {
                "value" => {
                    let value = map.next_value::<SecretField>()?;
                    if fields.value.replace(value).is_some() {
                        fields.repeated = Some(key);
                    }
                    continue;
                }
                "name" => &mut fields.name,
                "kind" => &mut fields.kind,
                "provider" => &mut fields.provider,
                "reference" => &mut fields.reference,
                "allowed_domains" => &mut fields.allowed_domains,
                "enabled" => &mut fields.enabled,
                "created_ms" => &mut fields.created_ms,
                "updated_ms" => &mut fields.updated_ms,
                _ => {
                    let value = map.next_value::<Value>()?;
                    fields.unknown.insert(key, value);
                    continue;
                }
            };
            if slot.replace(map.next_value::<Value>()?).is_some() {
                fields.repeated = Some(key);
            }
        }
        Ok(fields.check())
    }

    fn visit_seq<A: SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Err((None, "a secret is a JSON object".into())))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> std::result::Result<Self::Value, E> {
        Ok(Err((None, "a secret is a JSON object".into())))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> std::result::Result<Self::Value, E> {
        Ok(Err((None, "a secret is a JSON object".into())))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> std::result::Result<Self::Value, E> {
        Ok(Err((None, "a secret is a JSON object".into())))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> std::result::Result<Self::Value, E> {
        Ok(Err((None, "a secret is a JSON object".into())))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> std::result::Result<Self::Value, E> {
        Ok(Err((None, "a secret is a JSON object".into())))
    }

    fn visit_unit<E: de::Error>(self) -> std::result::Result<Self::Value, E> {
        Ok(Err((None, "a secret is a JSON object".into())))
    }
}

impl Fields {
    fn check(self) -> std::result::Result<Record, Malformed> {
        let name = match self.name {
            Some(Value::String(name)) => name,
            _ => return Err((None, "the secret has no name (a string)".into())),
        };
        let fail = |reason: &str| Err((Some(name.clone()), reason.into()));
        if let Err(e) = name::check(&name) {
            return Err((Some(name), e.to_string().into()));
        }
        if let Some(key) = &self.repeated {
            return fail(&format!("the member `{key}` is given twice"));
        }
        let text = |value: Option<Value>, what: &str| match value {
            Some(Value::String(text)) => Ok(text),
            _ => Err(format!("a linked secret needs `{what}` (a string)")),
        };
        let value = match self.kind.as_ref().and_then(Value::as_str) {
            Some("local") => match self.value {
                None | Some(SecretField::Absent) => RecordValue::Local { value: None },
                Some(SecretField::Text(value)) => RecordValue::Local { value: Some(value) },
                Some(SecretField::Malformed) => return fail("the value is not a string"),
            },
            Some("linked") => {
                let provider = match text(self.provider, "provider") {
                    Ok(text) => text,
                    Err(reason) => return fail(&reason),
                };
                let reference = match text(self.reference, "reference") {
                    Ok(text) => text,
                    Err(reason) => return fail(&reason),
                };
                RecordValue::Linked {
                    provider,
                    reference,
                }
            }
            _ => return fail("`kind` is neither \"local\" nor \"linked\""),
        };
        let allowed_domains = match self.allowed_domains {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(patterns)) => {
                let mut parsed = Vec::with_capacity(patterns.len());
                for pattern in &patterns {
                    let Some(text) = pattern.as_str() else {
                        return fail("an allowed domain is not a string");
                    };
                    match DomainPattern::new(text) {
                        Ok(pattern) => parsed.push(pattern),
                        Err(e) => return fail(&e.to_string()),
                    }
                }
                parsed
            }
            Some(_) => return fail("`allowed_domains` is not a list"),
        };
        let enabled = match self.enabled {
            None => true,
            Some(Value::Bool(enabled)) => enabled,
            Some(_) => return fail("`enabled` is not true or false"),
        };
        let time = |value: Option<Value>, what: &str| match value {
            None => Ok(0),
            Some(value) => value
                .as_u64()
                .ok_or_else(|| format!("`{what}` is not a whole number of milliseconds")),
        };
        let created_ms = match time(self.created_ms, "created_ms") {
            Ok(ms) => ms,
            Err(reason) => return fail(&reason),
        };
        let updated_ms = match time(self.updated_ms, "updated_ms") {
            Ok(ms) => ms,
            Err(reason) => return fail(&reason),
        };
        Ok(Record {
            name,
            value,
            allowed_domains,
            enabled,
            created_ms,
            updated_ms,
            unknown: self.unknown,
        })
    }
}

/// A local secret's `value`, read straight into a zeroizing string (never a `Value`, whose
/// strings are not wiped).
enum SecretField {
    Text(Zeroizing<String>),
    Absent,
    Malformed,
}

impl<'de> Deserialize<'de> for SecretField {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        deserializer.deserialize_any(SecretFieldVisitor)
    }
}

struct SecretFieldVisitor;

impl<'de> Visitor<'de> for SecretFieldVisitor {
    type Value = SecretField;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a secret value")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> std::result::Result<SecretField, E> {
        // `to_owned` allocates exactly the text's length.
        Ok(SecretField::Text(Zeroizing::new(text.to_owned())))
    }

    fn visit_string<E: de::Error>(self, text: String) -> std::result::Result<SecretField, E> {
        Ok(SecretField::Text(Zeroizing::new(text)))
    }

    fn visit_unit<E: de::Error>(self) -> std::result::Result<SecretField, E> {
        Ok(SecretField::Absent)
    }

    fn visit_none<E: de::Error>(self) -> std::result::Result<SecretField, E> {
        Ok(SecretField::Absent)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> std::result::Result<SecretField, E> {
        Ok(SecretField::Malformed)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> std::result::Result<SecretField, E> {
        Ok(SecretField::Malformed)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> std::result::Result<SecretField, E> {
        Ok(SecretField::Malformed)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> std::result::Result<SecretField, E> {
        Ok(SecretField::Malformed)
    }

    fn visit_seq<A: SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<SecretField, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(SecretField::Malformed)
    }

    fn visit_map<A: MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<SecretField, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(SecretField::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(json: &str) -> Result<Document> {
        Document::decode(json.as_bytes(), Path::new("v.age"))
    }

    #[test]
    fn a_malformed_record_is_named() {
        let err = decode(
            r#"{"format":"request-vault","version":1,"secrets":[
                {"name":"good","kind":"local","value":"v"},
                {"name":"bad","kind":"local","value":"v","allowed_domains":["."]}]}"#,
        )
        .err()
        .unwrap();
        assert!(
            matches!(&err, Error::CorruptRecord { name, .. } if &**name == "bad"),
            "{err}"
        );
        let err = decode(r#"{"format":"request-vault","version":1,"secrets":[{"kind":"local"}]}"#)
            .err()
            .unwrap();
        assert!(err.to_string().contains("#1"), "{err}");
    }

    #[test]
    fn duplicate_names_are_refused() {
        let err = decode(
            r#"{"format":"request-vault","version":1,"secrets":[
                {"name":"a","kind":"local","value":"1"},{"name":"a","kind":"local","value":"2"}]}"#,
        )
        .err()
        .unwrap();
        assert!(
            matches!(&err, Error::CorruptRecord { name, .. } if &**name == "a"),
            "{err}"
        );
    }

    #[test]
    fn unknown_members_are_kept() {
        let json = r#"{"format":"request-vault","version":1,"future":{"x":1},"secrets":[
            {"name":"a","kind":"local","value":"1","rotation":"P30D"}]}"#;
        let document = decode(json).unwrap();
        let text = String::from_utf8(document.encode().to_vec()).unwrap();
        let again: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(again["future"]["x"], 1);
        assert_eq!(again["secrets"][0]["rotation"], "P30D");
        assert_eq!(again["secrets"][0]["value"], "1");
    }

    #[test]
    fn encoding_fills_its_buffer_exactly() {
        let json = r#"{"format":"request-vault","version":1,"secrets":[
            {"name":"a","kind":"local","value":"x\"y"}]}"#;
        let bytes = decode(json).unwrap().encode();
        assert_eq!(bytes.len(), bytes.capacity());
    }
}
