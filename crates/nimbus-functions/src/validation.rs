//! Argument and return validation on the host, from the validators the functions export,
//! with Convex's error texts (`ArgumentValidationError: …`, `ReturnsValidationError: …`).

use nimbus_engine::Catalog;
use nimbus_values::{IdTableResolver, TableNumber, Validator, Value};

use crate::deployment::FunctionInfo;
use crate::error::FunctionError;

/// Resolves `v.id("table")` against the tenant's catalog.
pub struct CatalogTables<'a>(pub &'a Catalog);

impl IdTableResolver for CatalogTables<'_> {
    fn table_name(&self, number: TableNumber) -> Option<String> {
        self.0.table_name(number).map(str::to_owned)
    }
}

/// Checks a call's arguments.
pub fn validate_args(
    function: &FunctionInfo,
    args: &Value,
    catalog: &Catalog,
) -> Result<(), FunctionError> {
    if !matches!(args, Value::Object(_)) {
        return Err(FunctionError::user(
            "ArgumentValidationError: Function arguments must be an object; pass `{}` for no arguments",
        ));
    }
    check(
        function.args.as_ref(),
        args,
        catalog,
        "ArgumentValidationError",
    )
}

/// Checks a function's return value.
pub fn validate_returns(
    function: &FunctionInfo,
    value: &Value,
    catalog: &Catalog,
) -> Result<(), FunctionError> {
    check(
        function.returns.as_ref(),
        value,
        catalog,
        "ReturnsValidationError",
    )
}

fn check(
    validator: Option<&Validator>,
    value: &Value,
    catalog: &Catalog,
    tag: &str,
) -> Result<(), FunctionError> {
    let Some(validator) = validator else {
        return Ok(());
    };
    validator
        .validate(value, &CatalogTables(catalog))
        .map_err(|e| FunctionError::user(format!("{tag}: {}", e.message())))
}
