//! JSON text as GeoNature's Flask JSON provider writes it: keys sorted, `", "` and `": "`
//! separators, non-ASCII characters left as UTF-8 (`ensure_ascii=False`).

use serde_json::Value;
use std::io::{self, Write};

/// Writes `s` as a JSON string literal (same escapes as Python's encoder with ensure_ascii off).
pub fn write_str<W: Write + ?Sized>(out: &mut W, s: &str) -> io::Result<()> {
    // serde_json escapes exactly `"`, `\`, and the C0 controls, like Python does.
    serde_json::to_writer(&mut *out, s).map_err(io::Error::other)
}

/// Writes a float the way Python's `repr` does for the values GeoNature emits
/// (`10.0`, `6.123457`); non-finite values are not valid JSON and become `null`.
pub fn write_f64<W: Write + ?Sized>(out: &mut W, f: f64) -> io::Result<()> {
    if !f.is_finite() {
        return out.write_all(b"null");
    }
    // serde_json prints the shortest round-trip form and keeps `.0` on integral values.
    serde_json::to_writer(&mut *out, &f).map_err(io::Error::other)
}

/// Writes any JSON value with sorted keys and Python's default separators.
pub fn write_value<W: Write + ?Sized>(out: &mut W, v: &Value) -> io::Result<()> {
    match v {
        Value::Null => out.write_all(b"null"),
        Value::Bool(b) => out.write_all(if *b { b"true" } else { b"false" }),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => write!(out, "{i}"),
            (None, Some(u), _) => write!(out, "{u}"),
            (_, _, Some(f)) => write_f64(out, f),
            _ => out.write_all(b"null"),
        },
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.write_all(b"[")?;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.write_all(b", ")?;
                }
                write_value(out, item)?;
            }
            out.write_all(b"]")
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.write_all(b"{")?;
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.write_all(b", ")?;
                }
                write_str(out, k)?;
                out.write_all(b": ")?;
                write_value(out, &map[k.as_str()])?;
            }
            out.write_all(b"}")
        }
    }
}

/// Serialises a value to a `String` in GeoNature's style.
pub fn to_string(v: &Value) -> String {
    let mut buf = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = write_value(&mut buf, v);
    String::from_utf8(buf).unwrap_or_default()
}

/// Helper to write an object whose keys the caller emits in sorted order.
pub struct ObjectWriter<'a, W: Write + ?Sized> {
    out: &'a mut W,
    first: bool,
}

impl<'a, W: Write + ?Sized> ObjectWriter<'a, W> {
    pub fn begin(out: &'a mut W) -> io::Result<Self> {
        out.write_all(b"{")?;
        Ok(Self { out, first: true })
    }

    /// Writes the key and separator; the caller then writes the value into [`Self::out`].
    pub fn key(&mut self, key: &str) -> io::Result<&mut W> {
        if !self.first {
            self.out.write_all(b", ")?;
        }
        self.first = false;
        write_str(self.out, key)?;
        self.out.write_all(b": ")?;
        Ok(self.out)
    }

    pub fn end(self) -> io::Result<()> {
        self.out.write_all(b"}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sorted_keys_and_python_separators() {
        let v = json!({"b": 1, "a": [1, 2.5, "é\n\"x\""], "c": {"z": null, "y": true}});
        assert_eq!(
            to_string(&v),
            r#"{"a": [1, 2.5, "é\n\"x\""], "b": 1, "c": {"y": true, "z": null}}"#
        );
    }

    #[test]
    fn floats_like_python_repr() {
        let mut b = Vec::new();
        write_f64(&mut b, 10.0).unwrap();
        b.push(b' ');
        write_f64(&mut b, 6.123457).unwrap();
        assert_eq!(String::from_utf8(b).unwrap(), "10.0 6.123457");
    }

    #[test]
    fn control_characters_escaped() {
        assert_eq!(to_string(&json!("a\u{1}b\tc")), r#""a\u0001b\tc""#);
    }
}
