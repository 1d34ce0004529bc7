//! One source file to one ES module with oxc: TypeScript and JSX stripped, `process.env.NODE_ENV`
//! defined as `"production"` (as the Convex CLI's esbuild settings do), and every import
//! specifier rewritten through a callback — the graph uses it to point bare and relative
//! imports at bundle paths.

use std::path::Path;

use oxc::allocator::Allocator;
use oxc::ast::ast::{ImportOrExportKind, Statement};
use oxc::codegen::Codegen;
use oxc::parser::Parser;
use oxc::semantic::SemanticBuilder;
use oxc::span::SourceType;
use oxc::str::Str;
use oxc::transformer::{TransformOptions, Transformer};
use oxc::transformer_plugins::{ReplaceGlobalDefines, ReplaceGlobalDefinesConfig};

/// A transpile failure, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranspileError {
    /// `file:line:column: message`.
    pub message: String,
}

fn line_col(source: &str, offset: u32) -> (usize, usize) {
    let before = &source[..(offset as usize).min(source.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |i| before.len() - i - 1)
        + 1;
    (line, column)
}

/// Replaces an AST string with one allocated in the AST's arena.
fn set_str<'a>(allocator: &'a Allocator, target: &mut Str<'a>, value: &str) {
    *target = Str::from(allocator.alloc_str(value));
}

/// Transpiles `source` (from `file`); `rewrite(specifier)` returns the specifier to emit.
pub fn transpile(
    file: &Path,
    source: &str,
    mut rewrite: impl FnMut(&str) -> Result<String, String>,
) -> Result<String, TranspileError> {
    let allocator = Allocator::default();
    let source_type = SourceType::from_path(file)
        .unwrap_or_else(|_| SourceType::mjs())
        .with_module(true);
    let parsed = Parser::new(&allocator, source, source_type).parse();
    if let Some(error) = parsed.diagnostics.first() {
        let offset = error.labels.first().map_or(0, |l| l.offset());
        let (line, column) = line_col(source, offset);
        return Err(TranspileError {
            message: format!("{}:{line}:{column}: {}", file.display(), error.message),
        });
    }
    let mut program = parsed.program;
    let scoping = SemanticBuilder::new()
        .build(&program)
        .semantic
        .into_scoping();
    let transformed = Transformer::new(&allocator, file, &TransformOptions::default())
        .build_with_scoping(scoping, &mut program);
    if let Some(error) = transformed.diagnostics.first() {
        return Err(TranspileError {
            message: format!("{}: {}", file.display(), error.message),
        });
    }
    let defines = ReplaceGlobalDefinesConfig::new(&[("process.env.NODE_ENV", "\"production\"")])
        .map_err(|_| TranspileError {
            message: "invalid define".into(),
        })?;
    let scoping = SemanticBuilder::new()
        .build(&program)
        .semantic
        .into_scoping();
    let _replaced = ReplaceGlobalDefines::new(&allocator, defines).build(scoping, &mut program);
    for statement in program.body.iter_mut() {
        let source = match statement {
            Statement::ImportDeclaration(import)
                if import.import_kind != ImportOrExportKind::Type =>
            {
                &mut import.source.value
            }
            Statement::ExportAllDeclaration(export) => &mut export.source.value,
            Statement::ExportFromDeclaration(export) => &mut export.source.value,
            _ => continue,
        };
        match rewrite(source.as_str()) {
            Ok(new) => set_str(&allocator, source, &new),
            Err(why) => {
                return Err(TranspileError {
                    message: format!("{}: {why}", file.display()),
                });
            }
        }
    }
    Ok(Codegen::new().build(&program).code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_types_and_rewrites_imports() {
        let source = "import { x } from 'lib';\nimport type { T } from './types';\nexport const f = (a: number): T => a + x + (process.env.NODE_ENV === 'production' ? 1 : 0);";
        let out = transpile(Path::new("a.ts"), source, |s| Ok(format!("./_deps/{s}.js"))).unwrap();
        assert!(out.contains("from \"./_deps/lib.js\""), "{out}");
        assert!(!out.contains(": number"), "{out}");
        assert!(!out.contains("./types"), "{out}");
        assert!(out.contains("\"production\""), "{out}");
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let err =
            transpile(Path::new("bad.ts"), "export const x = ;", |s| Ok(s.into())).unwrap_err();
        assert!(err.message.starts_with("bad.ts:1:"), "{}", err.message);
    }
}
