//! The tenant's schema, from the JSON that Convex's `defineSchema(...).export()` produces:
//! tables with their declared indexes and document validators, and the `schemaValidation`
//! switch.

use std::collections::BTreeMap;

use nimbus_values::{Validator, Value};
use serde_json::Value as Json;

use crate::catalog::{FieldPath, parse_field_path};
use crate::error::EngineError;

/// One table of the schema.
#[derive(Debug, Clone, PartialEq)]
pub struct TableSchema {
    /// Declared indexes: name → fields.
    pub indexes: BTreeMap<String, Vec<FieldPath>>,
    /// Validator for the user fields of every document (`None`: any document).
    pub document_type: Option<Validator>,
}

/// A parsed schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    /// Tables by name.
    pub tables: BTreeMap<String, TableSchema>,
    /// Whether writes are validated against `document_type`.
    pub schema_validation: bool,
    /// The JSON it came from (stored as is).
    pub json: Json,
}

impl Schema {
    /// Parses Convex's schema JSON, checking index declarations against `index_fields_max`.
    pub fn from_json(json: &Json, index_fields_max: usize) -> Result<Self, EngineError> {
        let invalid = |m: String| EngineError::InvalidSchema(m);
        let mut tables = BTreeMap::new();
        for table in json["tables"]
            .as_array()
            .ok_or_else(|| invalid("missing \"tables\" array".into()))?
        {
            let name = table["tableName"]
                .as_str()
                .ok_or_else(|| invalid("a table has no \"tableName\"".into()))?;
            crate::catalog::validate_table_name(name)?;
            if name.starts_with('_') {
                return Err(invalid(format!(
                    "table \"{name}\": names starting with \"_\" are reserved for system tables"
                )));
            }
            let mut indexes = BTreeMap::new();
            for index in table["indexes"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                let descriptor = index["indexDescriptor"].as_str().ok_or_else(|| {
                    invalid(format!(
                        "table \"{name}\": an index has no \"indexDescriptor\""
                    ))
                })?;
                let fields: Vec<FieldPath> = index["fields"]
                    .as_array()
                    .ok_or_else(|| invalid(format!("index {name}.{descriptor} has no \"fields\"")))?
                    .iter()
                    .map(|f| f.as_str().map(parse_field_path))
                    .collect::<Option<_>>()
                    .ok_or_else(|| {
                        invalid(format!("index {name}.{descriptor}: fields must be strings"))
                    })?;
                if fields.is_empty() || fields.len() > index_fields_max {
                    return Err(invalid(format!(
                        "index {name}.{descriptor} must have 1 to {index_fields_max} fields, has {}",
                        fields.len()
                    )));
                }
                if let Some(system) = fields
                    .iter()
                    .find(|f| f.first().is_some_and(|s| s.starts_with('_')))
                {
                    return Err(invalid(format!(
                        "index {name}.{descriptor} names the system field \"{}\"; \"_creationTime\" is \
                         appended to every index automatically",
                        system.join(".")
                    )));
                }
                if indexes.insert(descriptor.to_owned(), fields).is_some() {
                    return Err(invalid(format!(
                        "index {name}.{descriptor} is declared twice"
                    )));
                }
            }
            let document_type = match &table["documentType"] {
                Json::Null => None,
                json => {
                    let validator = Validator::from_json(json).map_err(|e| {
                        invalid(format!("table \"{name}\": bad document validator: {e}"))
                    })?;
                    (!matches!(validator, Validator::Any)).then_some(validator)
                }
            };
            if tables
                .insert(
                    name.to_owned(),
                    TableSchema {
                        indexes,
                        document_type,
                    },
                )
                .is_some()
            {
                return Err(invalid(format!("table \"{name}\" is declared twice")));
            }
        }
        Ok(Self {
            tables,
            schema_validation: json["schemaValidation"].as_bool().unwrap_or(true),
            json: json.clone(),
        })
    }

    /// Validates a document's user fields against its table's validator, if enforced.
    pub fn validate(
        &self,
        table: &str,
        fields: &Value,
        resolver: &dyn nimbus_values::IdTableResolver,
    ) -> Result<(), String> {
        if !self.schema_validation {
            return Ok(());
        }
        let Some(validator) = self
            .tables
            .get(table)
            .and_then(|t| t.document_type.as_ref())
        else {
            return Ok(());
        };
        validator
            .validate(fields, resolver)
            .map_err(|e| e.message())
    }
}
