#!/usr/bin/env node
// Files in packages/*/src and bench/ above MAX_FILE_LINES lines and functions above MAX_FUNCTION_LINES lines: the sign that a
// file holds more than one job or a function more than one step. Functions are found with the TypeScript parser
// (declarations, methods, constructors, accessors, arrow functions and function expressions), each counted from its
// first line to its last.
//
// Usage: node scripts/code-size.mjs [--json]   Exit status 1 when something is over a limit.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const MAX_FILE_LINES = 400;
export const MAX_FUNCTION_LINES = 80;

const root = fileURLToPath(new URL('..', import.meta.url));

/** Folders that hold no source of ours: installed packages, and the bench's results. */
const NOT_SOURCE = new Set(['node_modules', 'results']);

function sourceFiles(directory) {
  const found = [];
  for (const name of readdirSync(directory)) {
    if (NOT_SOURCE.has(name)) continue;
    const full = path.join(directory, name);
    if (statSync(full).isDirectory()) found.push(...sourceFiles(full));
    else if (/\.(c|m)?[jt]s$/.test(name) && !name.endsWith('.d.ts')) found.push(full);
  }
  return found;
}

function functionName(node, source) {
  if (node.name) return node.name.getText(source);
  if (ts.isConstructorDeclaration(node)) return 'constructor';
  const parent = node.parent;
  if (parent && (ts.isVariableDeclaration(parent) || ts.isPropertyDeclaration(parent) || ts.isPropertyAssignment(parent))) return parent.name.getText(source);
  return '(anonymous)';
}

/** The folders measured: each package's src, and the bench (its scripts are code like the rest). */
function measuredFolders() {
  const folders = readdirSync(path.join(root, 'packages')).map((packageName) => path.join(root, 'packages', packageName, 'src'));
  return [...folders, path.join(root, 'bench')].filter((folder) => {
    try {
      return statSync(folder).isDirectory();
    } catch {
      return false;
    }
  });
}

/** Every file and function of packages/<name>/src and bench/ over its limit. */
export function measure() {
  const files = [];
  const functions = [];
  for (const src of measuredFolders()) {
    for (const file of sourceFiles(src)) {
      const text = readFileSync(file, 'utf8');
      const relative = path.relative(root, file);
      const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
      if (lines > MAX_FILE_LINES) files.push({ file: relative, lines });
      const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
      const visit = (node) => {
        if (ts.isFunctionLike(node) && 'body' in node && node.body) {
          const first = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
          const last = source.getLineAndCharacterOfPosition(node.getEnd()).line;
          if (last - first + 1 > MAX_FUNCTION_LINES) functions.push({ file: relative, name: functionName(node, source), lines: last - first + 1 });
        }
        ts.forEachChild(node, visit);
      };
      visit(source);
    }
  }
  return { files, functions };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const result = measure();
  if (process.argv.includes('--json')) console.log(JSON.stringify(result, null, 2));
  else {
    for (const { file, lines } of result.files) console.log(`file over ${MAX_FILE_LINES} lines: ${file} (${lines})`);
    for (const { file, name, lines } of result.functions) console.log(`function over ${MAX_FUNCTION_LINES} lines: ${file} ${name} (${lines})`);
    console.log(`${result.files.length} file(s) and ${result.functions.length} function(s) over the limits`);
  }
  process.exit(result.files.length + result.functions.length > 0 ? 1 : 0);
}
