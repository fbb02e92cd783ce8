//! Conversions at the edge: core reports (serde) → plain JS objects with
//! camelCase keys, and JS inputs (Buffer or path) → bytes.

use std::path::Path;

use napi::bindgen_prelude::{Buffer, Either};
use napi::{Env, Unknown};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::CoreError;

/// `snake_case` / `kebab-case` object keys to `camelCase`, recursively;
/// string values (enum tags like `reset-request`) are left as they are.
pub fn camel_case(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (camel_key(&k), camel_case(v)))
                .collect::<Map<_, _>>(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(camel_case).collect()),
        other => other,
    }
}

fn camel_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for c in key.chars() {
        if c == '_' || c == '-' {
            upper = !out.is_empty();
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// A core report as a JSON value with camelCase keys (for `#[napi(object)]` fields).
pub fn json(report: &impl Serialize) -> Value {
    camel_case(serde_json::to_value(report).unwrap_or(Value::Null))
}

/// A core report as a plain JS object.
pub fn to_js<'env>(env: &'env Env, report: &impl Serialize) -> napi::Result<Unknown<'env>> {
    let value =
        serde_json::to_value(report).map_err(|e| napi::Error::from_reason(e.to_string()))?;
    env.to_js_value(&camel_case(value))
}

/// A `Buffer` as is, or a string as the path of a file to read with the
/// core's key-file reader (size-limited, errors name the path).
pub fn key_bytes(input: &Either<Buffer, String>) -> Result<Vec<u8>, CoreError> {
    match input {
        Either::A(buffer) => Ok(buffer.to_vec()),
        Either::B(path) => Ok(duo_provisioning::keys::read_key_file(Path::new(path))?),
    }
}

/// `camelCase` object keys to `snake_case`, recursively: JS option objects
/// handed to core types that deserialise with serde.
pub fn snake_case(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (snake_key(&k), snake_case(v)))
                .collect::<Map<_, _>>(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(snake_case).collect()),
        other => other,
    }
}

fn snake_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}
