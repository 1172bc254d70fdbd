//! The Connect server's JSON shapes that the provider reads (wire types), written for this
//! crate.
//!
//! Only the fields the provider uses are declared; unknown fields are ignored so that newer
//! servers keep working. Field values are read into `Zeroizing` strings.

use serde::Deserialize;
use zeroize::Zeroizing;

/// `GET /v1/vaults` returns a list of these.
#[derive(Debug, Deserialize)]
pub(crate) struct Vault {
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) name: String,
}

/// `GET /v1/vaults/{id}/items` returns a list of these (no fields, no values).
#[derive(Debug, Deserialize)]
pub(crate) struct ItemSummary {
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) title: String,
    #[serde(default)]
    pub(crate) state: Option<String>,
}

/// Whether an item `state` is archived or deleted: such items are ignored, as 1Password
/// ignores them.
pub(crate) fn is_inactive(state: Option<&str>) -> bool {
    state.is_some_and(|s| s.eq_ignore_ascii_case("ARCHIVED") || s.eq_ignore_ascii_case("DELETED"))
}

impl ItemSummary {
    pub(crate) fn is_active(&self) -> bool {
        !is_inactive(self.state.as_deref())
    }
}

/// `GET /v1/vaults/{id}/items/{id}`: an item with its sections, fields and files.
#[derive(Deserialize)]
pub(crate) struct Item {
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) title: String,
    #[serde(default)]
    pub(crate) state: Option<String>,
    #[serde(default)]
    pub(crate) sections: Vec<Section>,
    #[serde(default)]
    pub(crate) fields: Vec<Field>,
    #[serde(default)]
    pub(crate) files: Vec<File>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Section {
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) label: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct SectionRef {
    pub(crate) id: String,
}

#[derive(Deserialize)]
pub(crate) struct Field {
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) section: Option<SectionRef>,
    #[serde(rename = "type", default)]
    pub(crate) kind: String,
    #[serde(default)]
    pub(crate) purpose: Option<String>,
    #[serde(default)]
    pub(crate) label: Option<String>,
    #[serde(default)]
    pub(crate) value: Option<Zeroizing<String>>,
    /// The current one-time password of an OTP field.
    #[serde(default)]
    pub(crate) totp: Option<Zeroizing<String>>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct File {
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) size: u64,
    #[serde(default)]
    pub(crate) section: Option<SectionRef>,
}

/// The body of every error response: `{"status": 404, "message": "item … not found"}`.
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(default)]
    pub(crate) message: String,
}

// Hand-written so that values never print.
impl std::fmt::Debug for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Field")
            .field("id", &self.id)
            .field("label", &self.label)
            .field("type", &self.kind)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Item {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Item")
            .field("id", &self.id)
            .field("title", &self.title)
            .field("fields", &self.fields)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_archived_and_deleted_items_are_inactive() {
        assert!(is_inactive(Some("ARCHIVED")));
        assert!(is_inactive(Some("deleted")));
        assert!(!is_inactive(None));
        assert!(!is_inactive(Some("")));
        assert!(!is_inactive(Some("ACTIVE")));
    }
}
