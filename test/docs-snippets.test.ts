/**
 * The documentation's code blocks are checked against the product, so a doc cannot name a command or flag that does
 * not exist, or show code that does not parse. The rule (also in CONTRIBUTING.md):
 *
 * - Every fenced block of README.md, CONTRIBUTING.md, docs/**\/*.md, the published packages' READMEs and the examples' READMEs is read, except blocks whose info string has `skip-check`.
 * - In shell-like blocks (`sh`, `bash`, `console`, `shell`, `ini`, `yaml`, `dockerfile`, no language), each `zdt` invocation (`zdt`, `npx zdt`, a path ending in `/zdt` or `zdt.cjs`,
 *   or a JSON array such as a Kubernetes `args`) must name a command whose `zdt <command> --help` exits 0, and only
 *   flags that help text lists. Arguments after a bare `--` belong to the app and are not checked.
 * - `js`, `mjs`, `cjs` and `ts` blocks must parse (TypeScript's transpileModule reports syntax errors), and a block
 *   that is CommonJS (uses `require(`) or TypeScript may not use `await` at the top level: a default NestJS project
 *   compiles to CommonJS.
 * - Every relative link (and every link to this repository on GitHub) names a file that exists, and a heading of it
 *   when it has an anchor.
 * - The README's quickstart runs for real: the `js` block before it becomes server.js (on port 0 instead of 3000) and
 *   its three commands run in order against it; `zdt reload` and `zdt status` must exit 0.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { get, killTracked, run, waitFor, zdt, zdtStart } from '@zero-downtime/testkit';

const root = fileURLToPath(new URL('..', import.meta.url));
const launcher = path.join(root, 'packages', 'core', 'bin', 'zdt.cjs');
const scratch = mkdtempSync(path.join(os.tmpdir(), 'zdt-docs-'));
chmodSync(scratch, 0o700);

afterEach(() => killTracked());
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

interface Block {
  file: string;
  line: number;
  lang: string;
  skip: boolean;
  code: string;
}

function markdownFiles(): string[] {
  const found = [path.join(root, 'README.md')];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.md')) found.push(full);
    }
  };
  walk(path.join(root, 'docs'));
  for (const name of ['core', 'express', 'fastify', 'nest', 'verify']) found.push(path.join(root, 'packages', name, 'README.md'));
  found.push(path.join(root, 'CONTRIBUTING.md'));
  for (const name of readdirSync(path.join(root, 'examples'))) {
    if (existsSync(path.join(root, 'examples', name, 'README.md'))) found.push(path.join(root, 'examples', name, 'README.md'));
  }
  return found;
}

function blocksOf(file: string): Block[] {
  const blocks: Block[] = [];
  const lines = readFileSync(file, 'utf8').split('\n');
  for (let index = 0; index < lines.length; index++) {
    const open = /^```(\S*)(.*)$/.exec(lines[index]!);
    if (!open) continue;
    const start = index;
    const body: string[] = [];
    while (++index < lines.length && !lines[index]!.startsWith('```')) body.push(lines[index]!);
    blocks.push({ file: path.relative(root, file), line: start + 1, lang: open[1]!, skip: open[2]!.includes('skip-check'), code: body.join('\n') });
  }
  return blocks;
}

const blocks = markdownFiles().flatMap(blocksOf).filter((block) => !block.skip);

/** Shell words of one command line, quotes removed (no expansion). */
function words(line: string): string[] {
  return [...line.matchAll(/"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g)].map((match) => match[1] ?? match[2] ?? match[3]!);
}

/** The arguments after `zdt` of every invocation a block's line holds. */
function invocations(code: string): string[][] {
  const found: string[][] = [];
  for (const rawLine of code.split('\n')) {
    const array = /\[\s*"[^"\]]*zdt"\s*,[^\]]*\]/.exec(rawLine);
    if (array) {
      const items = JSON.parse(array[0]) as string[];
      found.push(items.slice(items.findIndex((item) => /(^|\/)zdt(\.cjs)?$/.test(item)) + 1));
      continue;
    }
    const line = rawLine.replace(/(^|\s)#.*$/, '').replace(/^[A-Za-z]+=/, ' ');
    for (const segment of line.split(/&&|\|\||;|\|/)) {
      const tokens = words(segment);
      const at = tokens.findIndex((token) => /(^|\/)zdt(\.cjs)?$/.test(token));
      if (at >= 0 && at + 1 < tokens.length) found.push(tokens.slice(at + 1));
    }
  }
  return found;
}

const helpCache = new Map<string, Promise<{ code: number | null; flags: Set<string> }>>();
function helpOf(command: string) {
  if (!helpCache.has(command)) {
    helpCache.set(
      command,
      run(process.execPath, [launcher, command, '--help'], { timeoutMs: 30_000 }).then((result) => ({
        code: result.code,
        flags: new Set([...`${result.stdout}${result.stderr}`.matchAll(/--[a-z][a-z0-9-]*|-h\b/g)].map((match) => match[0])),
      })),
    );
  }
  return helpCache.get(command)!;
}

/** Blocks whose lines can run zdt: shell sessions, unit files, manifests, Dockerfiles (code blocks are parsed instead). */
const SHELL_LIKE = ['sh', 'bash', 'console', 'shell', 'ini', 'yaml', 'yml', 'dockerfile', ''];

describe('zdt commands and flags in the docs exist', () => {
  const checked = blocks.filter((block) => SHELL_LIKE.includes(block.lang)).flatMap((block) => invocations(block.code).map((args) => ({ block, args })));

  it('finds the commands the docs use (the test reads what it should)', () => {
    const commands = new Set(checked.map(({ args }) => args[0]));
    expect([...commands].sort()).toEqual(expect.arrayContaining(['reload', 'start', 'status', 'stop', 'upgrade', 'verify']));
  });

  it.each(checked.map(({ block, args }) => [`${block.file}:${block.line}: zdt ${args.join(' ')}`, args] as const))('%s', async (_name, args) => {
    const [command, ...rest] = args;
    const help = await helpOf(command!);
    expect(help.code, `zdt ${command} --help exits 0 (the command exists)`).toBe(0);
    for (const token of rest) {
      if (token === '--') break;
      if (!token.startsWith('-') || /^-\d/.test(token)) continue;
      const flag = token.split('=')[0]!;
      expect(help.flags, `zdt ${command} --help lists ${flag}`).toContain(flag);
    }
  });
});

describe('code in the docs parses', () => {
  const code = blocks.filter((block) => ['js', 'mjs', 'cjs', 'ts'].includes(block.lang));
  it.each(code.map((block) => [`${block.file}:${block.line} (${block.lang})`, block] as const))('%s', (_name, block) => {
    const output = ts.transpileModule(block.code, {
      reportDiagnostics: true,
      fileName: block.lang === 'ts' ? 'snippet.ts' : 'snippet.js',
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, allowJs: true, experimentalDecorators: true },
    });
    const errors = (output.diagnostics ?? []).map((diagnostic) => ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'));
    expect(errors).toEqual([]);
    if (block.lang === 'ts' || /\brequire\(/.test(block.code)) {
      const topLevelAwait = block.code.split('\n').filter((line) => /^(?:(?:const|let|var)\s+[^=]+=\s*)?(?:[\w.]+\()?await\b/.test(line));
      expect(topLevelAwait, 'top-level await in a CommonJS or TypeScript (NestJS) snippet').toEqual([]);
    }
  });
});

/** GitHub's anchor for a heading: lower case, punctuation but hyphens dropped, spaces to hyphens. */
const anchorOf = (heading: string) => heading.trim().toLowerCase().replace(/[^\p{L}\p{N}_\- ]/gu, '').replace(/ /g, '-');
const REPOSITORY = 'https://github.com/zero-downtime/zero-downtime/blob/main/';

describe('links in the docs resolve', () => {
  const files = [...markdownFiles(), path.join(root, 'CONTRIBUTING.md'), path.join(root, 'CHANGELOG.md')];
  it.each(files.map((file) => [path.relative(root, file), file] as const))('%s', (_name, file) => {
    const prose = readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
    const broken: string[] = [];
    for (const [, link] of prose.matchAll(/\]\(([^)\s]+)\)/g)) {
      let target: string;
      if (link!.startsWith(REPOSITORY)) target = path.join(root, link!.slice(REPOSITORY.length));
      else if (/^[a-z]+:/.test(link!)) continue;
      else target = link!.startsWith('#') ? file + link : path.resolve(path.dirname(file), link!);
      const [where, anchor] = target.split('#') as [string, string | undefined];
      if (!existsSync(where)) broken.push(`${link} (no such file)`);
      else if (anchor && where.endsWith('.md')) {
        const headings = [...readFileSync(where, 'utf8').matchAll(/^#+ (.*)$/gm)].map((match) => anchorOf(match[1]!));
        if (!headings.includes(anchor)) broken.push(`${link} (no such heading)`);
      }
    }
    expect(broken).toEqual([]);
  });
});

describe('the README quickstart runs as written', () => {
  it('zdt start, zdt reload and zdt status on an unmodified app', async () => {
    const readme = blocks.filter((block) => block.file === 'README.md');
    const quickstart = readme.findIndex((block) => block.lang === 'sh' && /zdt start server\.js/.test(block.code));
    expect(quickstart, 'README.md has a quickstart with zdt start server.js').toBeGreaterThan(0);
    const app = readme[quickstart - 1]!;
    expect(app.lang).toBe('js');
    expect(app.code).not.toMatch(/zero-downtime/);
    const dir = mkdtempSync(path.join(scratch, 'quickstart-'));
    writeFileSync(path.join(dir, 'server.js'), app.code.replace(/listen\(3000\)/, 'listen(0)'));
    const commands = invocations(readme[quickstart]!.code);
    expect(commands.map((args) => args[0])).toEqual(['start', 'reload', 'status']);
    const env = { ZDT_CONTROL: path.join(dir, 'zdt.sock') };

    const running = zdtStart(commands[0]!.slice(1), { cwd: dir, env });
    await running.waitForLine(/supervisor pid \d+ running/, 30_000);
    const port = await waitFor(() => Number(/listening on \S*:(\d+)/.exec(running.output.join('\n'))?.[1] ?? 0), 'the port');
    expect((await get(port, '/')).body).toMatch(/^hello from \d+/);
    for (const args of commands.slice(1)) {
      const result = await zdt(args, { cwd: dir, env, timeoutMs: 60_000 });
      expect(result.code, `zdt ${args.join(' ')}: ${result.stdout}${result.stderr}`).toBe(0);
    }
    expect((await get(port, '/')).body).toMatch(/^hello from \d+/);
    expect((await zdt(['stop'], { cwd: dir, env })).code).toBe(0);
    expect((await running.exited).code).toBe(0);
  });
});

describe('the getting-started tutorial keeps releases and refuses a broken one as written', () => {
  it('zdt deploy, zdt start --deploy-to, a broken build refused with exit 1 while the old release serves, zdt releases, a fixed deploy, zdt rollback', async () => {
    const tutorial = blocks.filter((block) => block.file === path.join('docs', 'getting-started.md'));
    const app = tutorial.find((block) => block.lang === 'js' && block.code.includes('createServer'));
    expect(app, 'docs/getting-started.md has the plain app of step 1').toBeDefined();
    const steps = tutorial.filter((block) => block.lang === 'sh' && /zdt (deploy|releases|rollback)/.test(block.code)).flatMap((block) => block.code.split('\n'));
    expect(steps.filter((line) => /zdt (deploy|start|releases|rollback)/.test(line)).length, 'the deploy, start, releases and rollback steps').toBeGreaterThanOrEqual(5);
    const dir = mkdtempSync(path.join(scratch, 'tutorial-'));
    writeFileSync(path.join(dir, 'app.js'), app!.code.replace(/listen\(3000\)/, 'listen(0)'));
    // `npx zdt` is the zdt of this checkout.
    mkdirSync(path.join(dir, 'bin'));
    writeFileSync(path.join(dir, 'bin', 'npx'), `#!/bin/sh\nshift\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(launcher)} "$@"\n`, { mode: 0o755 });
    const env = { ZDT_CONTROL: path.join(dir, 'zdt.sock'), PATH: `${path.join(dir, 'bin')}:${process.env.PATH}` };
    let running: ReturnType<typeof zdtStart> | undefined;
    let port = 0;
    for (const line of steps.filter((text) => text.trim() !== '' && !text.startsWith('#'))) {
      const start = /npx zdt start (.*)$/.exec(line);
      if (start) {
        running = zdtStart(words(start[1]!), { cwd: dir, env });
        await running.waitForLine(/supervisor pid \d+ running/, 30_000);
        port = await waitFor(() => Number(/listening on \S*:(\d+)/.exec(running!.output.join('\n'))?.[1] ?? 0), 'the port');
        continue;
      }
      const result = await run('bash', ['-c', line], { cwd: dir, env: { ...process.env, ...env }, timeoutMs: 60_000 });
      if (line.includes('echo "exit $?"')) {
        expect(result.stdout, `${line}: ${result.stderr}`).toMatch(/exit 1$/m);
        expect(result.stderr).toMatch(/ERR_ZDT_ROLLOUT_FAILED: .*broken release; nothing was replaced: generation 0 serves on all 2 workers; current points at release \d+ again/);
        const answers = await Promise.all(Array.from({ length: 50 }, () => get(port, '/')));
        expect(answers.filter((answer) => !/generation 0\n$/.test(answer.body))).toEqual([]);
      } else {
        expect(result.code, `${line}: ${result.stdout}${result.stderr}`).toBe(0);
      }
    }
    expect(running, 'the tutorial starts zdt').toBeDefined();
    expect((await get(port, '/')).body).toMatch(/^hello from \d+, generation \d+/);
    expect((await zdt(['stop'], { cwd: dir, env })).code).toBe(0);
    expect((await running!.exited).code).toBe(0);
  });
});
