#!/usr/bin/env node
// Import circles in packages/*/src: a file that, through its relative imports, ends up importing itself. A circle means
// two files each need the other, so neither is the home of what they share, and the order in which they load decides
// which sees the other half-initialised. Imports are read with the TypeScript parser: `import`, `export ... from`,
// `import x = require()`, `require()` and `import()` with a literal path, type-only imports included (a type that two
// files both need belongs to a third). Each circle is printed as a path that returns to its start.
//
// Usage: node scripts/import-circles.mjs [--json] [folder...]   Exit status 1 when there is a circle. The folders default to
// every packages/<name>/src.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = fileURLToPath(new URL('..', import.meta.url));

function sourceFiles(directory) {
  const found = [];
  for (const name of readdirSync(directory)) {
    if (name === 'node_modules') continue;
    const full = path.join(directory, name);
    if (statSync(full).isDirectory()) found.push(...sourceFiles(full));
    else if (/\.(c|m)?tsx?$/.test(name) && !/\.d\.(c|m)?ts$/.test(name)) found.push(full);
  }
  return found;
}

function sourceFolders() {
  return readdirSync(path.join(root, 'packages'))
    .map((packageName) => path.join(root, 'packages', packageName, 'src'))
    .filter((folder) => existsSync(folder) && statSync(folder).isDirectory());
}

/** Every module path a file names: static imports and re-exports, require(), import() with a literal argument. */
export function importedSpecifiers(file, text) {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const specifiers = [];
  const visit = (node) => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      specifiers.push(node.moduleSpecifier.text);
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      const expression = node.moduleReference.expression;
      if (ts.isStringLiteral(expression)) specifiers.push(expression.text);
    } else if (ts.isCallExpression(node) && node.arguments.length >= 1 && ts.isStringLiteralLike(node.arguments[0])) {
      const callee = node.expression;
      const isDynamicImport = callee.kind === ts.SyntaxKind.ImportKeyword;
      const isRequire = ts.isIdentifier(callee) && callee.text === 'require';
      if (isDynamicImport || isRequire) specifiers.push(node.arguments[0].text);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      specifiers.push(node.argument.literal.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return specifiers;
}

/** The source file a relative specifier names ('./x.js' is ./x.ts on disk, './x' may be ./x/index.ts); undefined otherwise. */
function resolve(fromFile, specifier, known) {
  if (!specifier.startsWith('.')) return undefined;
  const base = path.resolve(path.dirname(fromFile), specifier);
  const stem = base.replace(/\.(c|m)?(j|t)sx?$/, '');
  const candidates = [base, `${stem}.ts`, `${stem}.tsx`, `${stem}.mts`, `${stem}.cts`, path.join(base, 'index.ts')];
  return candidates.find((candidate) => known.has(candidate));
}

/** The import graph of packages/*\/src: file -> the files it imports, relative to the repository root. */
export function importGraph(folders = sourceFolders()) {
  const files = folders.flatMap((folder) => sourceFiles(folder));
  const known = new Set(files);
  const graph = new Map();
  for (const file of files) {
    const targets = new Set();
    for (const specifier of importedSpecifiers(file, readFileSync(file, 'utf8'))) {
      const target = resolve(file, specifier, known);
      if (target) targets.add(path.relative(root, target));
    }
    graph.set(path.relative(root, file), [...targets].sort());
  }
  return graph;
}

/** The strongly connected components with more than one file (or a file importing itself), by Tarjan's algorithm. */
function tangledGroups(graph) {
  let counter = 0;
  const index = new Map();
  const lowest = new Map();
  const stack = [];
  const onStack = new Set();
  const groups = [];
  const connect = (file) => {
    index.set(file, counter);
    lowest.set(file, counter);
    counter += 1;
    stack.push(file);
    onStack.add(file);
    for (const target of graph.get(file) ?? []) {
      if (!index.has(target)) {
        connect(target);
        lowest.set(file, Math.min(lowest.get(file), lowest.get(target)));
      } else if (onStack.has(target)) lowest.set(file, Math.min(lowest.get(file), index.get(target)));
    }
    if (lowest.get(file) !== index.get(file)) return;
    const group = [];
    let member;
    do {
      member = stack.pop();
      onStack.delete(member);
      group.push(member);
    } while (member !== file);
    if (group.length > 1 || (graph.get(file) ?? []).includes(file)) groups.push(group.sort());
  };
  for (const file of [...graph.keys()].sort()) if (!index.has(file)) connect(file);
  return groups;
}

/** One shortest circle through the first file of a group, staying inside the group: [a, b, ..., a]. */
function circleThrough(group, graph) {
  const members = new Set(group);
  const start = group[0];
  const cameFrom = new Map();
  const queue = [start];
  while (queue.length > 0) {
    const file = queue.shift();
    for (const target of graph.get(file) ?? []) {
      if (!members.has(target)) continue;
      if (target === start) {
        const circle = [start];
        for (let step = file; step !== start; step = cameFrom.get(step)) circle.splice(1, 0, step);
        return [...circle, start];
      }
      if (!cameFrom.has(target)) {
        cameFrom.set(target, file);
        queue.push(target);
      }
    }
  }
  return [start, start];
}

/** Each tangle of files that import one another: its files and one circle through them. */
export function findCircles(graph = importGraph()) {
  return tangledGroups(graph).map((files) => ({ files, circle: circleThrough(files, graph) }));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const folders = process.argv.slice(2).filter((argument) => !argument.startsWith('--'));
  const graph = importGraph(folders.length > 0 ? folders.map((folder) => path.resolve(folder)) : undefined);
  const circles = findCircles(graph);
  if (process.argv.includes('--json')) console.log(JSON.stringify({ files: graph.size, circles }, null, 2));
  else {
    for (const { files, circle } of circles) {
      console.log(`import circle: ${circle.join(' -> ')}`);
      if (files.length <= circle.length - 1) continue;
      // A tangle wider than the circle shown: every import inside it, so all of it can be undone at once.
      const members = new Set(files);
      for (const file of files) console.log(`  ${file} imports ${graph.get(file).filter((target) => members.has(target)).join(', ')}`);
    }
    console.log(`${circles.length} import circle(s) in ${graph.size} files`);
  }
  process.exit(circles.length > 0 ? 1 : 0);
}
