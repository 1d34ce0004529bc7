//! Module resolution and loading from the bundle, through the bytecode cache.
//!
//! Modules are named `convex:/<path>` and import each other only with relative specifiers, as
//! esbuild emits them; bare imports (`"react"`) are refused because isolate bundles must inline
//! their dependencies. A module's bytecode comes from the shared [`BytecodeCache`] when its
//! verified hash is there; otherwise its source is compiled once and the bytecode stored.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

use rquickjs::loader::{ImportAttributes, Loader, Resolver};
use rquickjs::module::{Declared, WriteOptions};
use rquickjs::{Ctx, Exception, Module};

use crate::bundle::{BundleHash, RuntimeBundle};
use crate::bytecode::BytecodeCache;

/// Scheme prefix of bundle module names.
pub(crate) const MODULE_PREFIX: &str = "convex:/";

/// What the loader loads from: set per isolate.
pub(crate) struct LoaderSource {
    pub(crate) bundle: RuntimeBundle,
    pub(crate) module_hashes: BTreeMap<String, BundleHash>,
    pub(crate) cache: BytecodeCache,
    /// Host-provided script modules (trusted), by full module name.
    pub(crate) scripts: BTreeMap<String, String>,
}

pub(crate) type SharedLoaderSource = Rc<RefCell<Option<LoaderSource>>>;

/// Resolves relative specifiers against the importing module.
pub(crate) struct BundleResolver;

impl Resolver for BundleResolver {
    fn resolve<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        base: &str,
        name: &str,
        _attributes: Option<ImportAttributes<'js>>,
    ) -> rquickjs::Result<String> {
        if name.starts_with(MODULE_PREFIX) {
            return Ok(name.to_owned());
        }
        if !(name.starts_with("./") || name.starts_with("../")) {
            return Err(Exception::throw_reference(
                ctx,
                &format!(
                    "cannot import '{name}' from '{base}': only relative imports inside the bundle \
                     are supported; bundle your dependencies into the deployment"
                ),
            ));
        }
        let base_path = base.strip_prefix(MODULE_PREFIX).unwrap_or(base);
        let mut parts: Vec<&str> = base_path.split('/').collect();
        parts.pop();
        for segment in name.split('/') {
            match segment {
                "." | "" => {}
                ".." => {
                    if parts.pop().is_none() {
                        return Err(Exception::throw_reference(
                            ctx,
                            &format!("cannot import '{name}' from '{base}': it escapes the bundle"),
                        ));
                    }
                }
                other => parts.push(other),
            }
        }
        Ok(format!("{MODULE_PREFIX}{}", parts.join("/")))
    }
}

/// Loads bundle modules, via bytecode when cached.
pub(crate) struct BundleLoader {
    pub(crate) source: SharedLoaderSource,
}

impl Loader for BundleLoader {
    fn load<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        name: &str,
        _attributes: Option<ImportAttributes<'js>>,
    ) -> rquickjs::Result<Module<'js, Declared>> {
        let source = self.source.borrow();
        let Some(source) = source.as_ref() else {
            return Err(Exception::throw_internal(
                ctx,
                "no bundle is attached to this isolate",
            ));
        };
        if let Some(script) = source.scripts.get(name) {
            return Module::declare(ctx.clone(), name, script.as_str());
        }
        let path = name.strip_prefix(MODULE_PREFIX).unwrap_or(name);
        let (Some(code), Some(hash)) = (source.bundle.module(path), source.module_hashes.get(path))
        else {
            return Err(Exception::throw_reference(
                ctx,
                &format!("module '{path}' is not in the deployed bundle"),
            ));
        };
        load_cached(ctx, name, code, *hash, &source.cache)
    }
}

/// Loads `name` from cached bytecode, compiling and caching it on a miss.
pub(crate) fn load_cached<'js>(
    ctx: &Ctx<'js>,
    name: &str,
    code: &Arc<str>,
    hash: BundleHash,
    cache: &BytecodeCache,
) -> rquickjs::Result<Module<'js, Declared>> {
    if let Some(bytecode) = cache.get(&hash) {
        // SAFETY: the cache only holds bytecode written by `Module::write` in this process
        // (below), for exactly the source whose hash is the key; it is never read from outside.
        return unsafe { Module::load(ctx.clone(), &bytecode) };
    }
    let module = Module::declare(ctx.clone(), name, code.as_bytes())?;
    if let Ok(bytecode) = module.write(WriteOptions::default()) {
        cache.insert(hash, Arc::from(bytecode));
    }
    Ok(module)
}
