//! Natives behind the web-platform globals: UTF-8 text, base64, URL parsing and
//! `application/x-www-form-urlencoded`, and `crypto.subtle.digest`.
//!
//! URL semantics come from the `url` crate's WHATWG "quirks" API (the exact getters and setters
//! of the URL standard), form encoding from its `form_urlencoded`, hashing from `sha2`; the JS
//! side only wraps them in the standard classes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rquickjs::{ArrayBuffer, Ctx, Exception, Function, Object, TypedArray};
use sha2::Digest;

/// Installs the web natives on the natives object.
pub(crate) fn install<'js>(ctx: &Ctx<'js>, natives: &Object<'js>) -> rquickjs::Result<()> {
    natives.set(
        "utf8Encode",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, text: String| {
            ArrayBuffer::new(ctx, text.into_bytes())
        })?,
    )?;
    natives.set(
        "utf8Decode",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, bytes: TypedArray<'js, u8>, fatal: bool, ignore_bom: bool| {
                let bytes = copy_bytes(&bytes);
                let body = if !ignore_bom && bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
                    &bytes[3..]
                } else {
                    &bytes[..]
                };
                if fatal {
                    std::str::from_utf8(body).map(str::to_owned).map_err(|e| {
                        Exception::throw_type(&ctx, &format!("TextDecoder: invalid UTF-8: {e}"))
                    })
                } else {
                    Ok(String::from_utf8_lossy(body).into_owned())
                }
            },
        )?,
    )?;
    natives.set(
        "btoa",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, text: String| {
            let mut bytes = Vec::with_capacity(text.len());
            for ch in text.chars() {
                let code = ch as u32;
                if code > 0xFF {
                    return Err(Exception::throw_message(
                        &ctx,
                        "InvalidCharacterError: btoa: the string contains characters outside Latin1",
                    ));
                }
                bytes.push(code as u8);
            }
            Ok(STANDARD.encode(bytes))
        })?,
    )?;
    natives.set(
        "atob",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, text: String| {
            // Forgiving base64: ASCII whitespace is ignored and padding is optional.
            let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            let trimmed = compact.trim_end_matches('=');
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(trimmed)
                .map(|bytes| bytes.into_iter().map(char::from).collect::<String>())
                .map_err(|_| {
                    Exception::throw_message(
                        &ctx,
                        "InvalidCharacterError: atob: the string is not valid base64",
                    )
                })
        })?,
    )?;
    natives.set(
        "bytesToBase64",
        Function::new(ctx.clone(), |bytes: TypedArray<'js, u8>| {
            STANDARD.encode(copy_bytes(&bytes))
        })?,
    )?;
    natives.set(
        "base64ToBytes",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, text: String| {
            let bytes = STANDARD
                .decode(text)
                .map_err(|e| Exception::throw_type(&ctx, &format!("bad base64: {e}")))?;
            ArrayBuffer::new(ctx, bytes)
        })?,
    )?;
    natives.set(
        "digest",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, algorithm: String, data: TypedArray<'js, u8>| {
                let data = copy_bytes(&data);
                let digest = match algorithm.as_str() {
                    "SHA-256" => sha2::Sha256::digest(&data).to_vec(),
                    "SHA-384" => sha2::Sha384::digest(&data).to_vec(),
                    "SHA-512" => sha2::Sha512::digest(&data).to_vec(),
                    other => {
                        return Err(Exception::throw_message(
                            &ctx,
                            &format!(
                                "NotSupportedError: crypto.subtle.digest: unsupported algorithm \
                             '{other}' (use SHA-256, SHA-384 or SHA-512)"
                            ),
                        ));
                    }
                };
                ArrayBuffer::new(ctx, digest)
            },
        )?,
    )?;
    natives.set(
        "urlParse",
        Function::new(ctx.clone(), |input: String, base: Option<String>| {
            let parsed = match base {
                Some(base) => url::Url::parse(&base).and_then(|b| b.join(&input)),
                None => url::Url::parse(&input),
            };
            parsed.ok().map(|u| url_parts(&u))
        })?,
    )?;
    natives.set(
        "urlSet",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, href: String, field: String, value: String| {
                let mut url = url::Url::parse(&href)
                    .map_err(|e| Exception::throw_type(&ctx, &format!("Invalid URL: {e}")))?;
                use url::quirks;
                match field.as_str() {
                    "href" => {
                        url = url::Url::parse(&value).map_err(|_| {
                            Exception::throw_type(&ctx, &format!("Invalid URL: '{value}'"))
                        })?;
                    }
                    // The standard says invalid values for these setters are silently ignored.
                    "protocol" => drop(quirks::set_protocol(&mut url, &value)),
                    "username" => drop(quirks::set_username(&mut url, &value)),
                    "password" => drop(quirks::set_password(&mut url, &value)),
                    "host" => drop(quirks::set_host(&mut url, &value)),
                    "hostname" => drop(quirks::set_hostname(&mut url, &value)),
                    "port" => drop(quirks::set_port(&mut url, &value)),
                    "pathname" => quirks::set_pathname(&mut url, &value),
                    "search" => quirks::set_search(&mut url, &value),
                    "hash" => quirks::set_hash(&mut url, &value),
                    other => {
                        return Err(Exception::throw_type(
                            &ctx,
                            &format!("URL has no field {other}"),
                        ));
                    }
                }
                Ok(url_parts(&url))
            },
        )?,
    )?;
    natives.set(
        "formDecode",
        Function::new(ctx.clone(), |query: String| {
            url::form_urlencoded::parse(query.as_bytes())
                .map(|(k, v)| vec![k.into_owned(), v.into_owned()])
                .collect::<Vec<_>>()
        })?,
    )?;
    natives.set(
        "formEncode",
        Function::new(ctx.clone(), |pairs: Vec<Vec<String>>| {
            let mut serializer = url::form_urlencoded::Serializer::new(String::new());
            for pair in &pairs {
                if let [k, v] = pair.as_slice() {
                    serializer.append_pair(k, v);
                }
            }
            serializer.finish()
        })?,
    )?;
    Ok(())
}

/// `[href, origin, protocol, username, password, host, hostname, port, pathname, search, hash]`
fn url_parts(url: &url::Url) -> Vec<String> {
    use url::quirks;
    vec![
        quirks::href(url).to_owned(),
        quirks::origin(url),
        quirks::protocol(url).to_owned(),
        quirks::username(url).to_owned(),
        quirks::password(url).to_owned(),
        quirks::host(url).to_owned(),
        quirks::hostname(url).to_owned(),
        quirks::port(url).to_owned(),
        quirks::pathname(url).to_owned(),
        quirks::search(url).to_owned(),
        quirks::hash(url).to_owned(),
    ]
}

/// Copies the bytes a typed array views.
fn copy_bytes(array: &TypedArray<'_, u8>) -> Vec<u8> {
    // SAFETY: the isolate is single-threaded and no JS runs while the slice is borrowed, so the
    // buffer can be neither detached nor resized before the copy completes.
    unsafe { array.as_bytes() }
        .map(<[u8]>::to_vec)
        .unwrap_or_default()
}
