import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

// What npm shows is README.md from the package: it must not send readers to files the package
// does not hold, its snippets must run as written, and what it lists must match the code.
const root = path.join(__dirname, '..');
const read = (file: string): string => fs.readFileSync(path.join(root, file), 'utf8');
const docs = { 'README.md': read('README.md'), 'MIGRATING.md': read('MIGRATING.md') };

/** package.json "files" as matchers: a folder, a file, or a `dir/*.ext` pattern. */
function inPackage(file: string): boolean {
  const files = (JSON.parse(read('package.json')) as { files: string[] }).files;
  return files.some((entry) => {
    if (entry.includes('*')) {
      const [dir, ext] = entry.split('*') as [string, string];
      return file.startsWith(dir) && file.endsWith(ext) && !file.slice(dir.length).includes('/');
    }
    return file === entry || file.startsWith(`${entry}/`);
  });
}

describe('README and MIGRATING', () => {
  it('link only to files that the npm package holds, and name no source file', () => {
    for (const [name, text] of Object.entries(docs)) {
      const links = [...text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)].map((m) => m[1]!).filter((l) => !/^[a-z]+:/.test(l));
      for (const link of links) {
        expect(inPackage(link), `${name} links to ${link}, which is not in the package`).toBe(true);
        expect(fs.existsSync(path.join(root, link)), `${name} links to ${link}, which does not exist`).toBe(true);
      }
      expect(text.match(/`src\/[^`]*`/g) ?? [], `${name} names source files the package does not ship`).toEqual([]);
    }
  });

  it('CommonJS snippets have no top-level await (a .cjs file cannot run it)', () => {
    for (const [name, text] of Object.entries(docs)) {
      for (const [, body] of text.matchAll(/```(?:js|javascript|cjs)\n([\s\S]*?)```/g)) {
        if (!body!.includes('require(')) continue;
        expect(body!.split('\n').filter((l) => /^(?:const .*= )?await /.test(l)), `${name}:\n${body}`).toEqual([]);
      }
    }
  });

  it('every list of debug namespaces is the set the code uses', () => {
    const used = new Set<string>();
    const walk = (dir: string): void => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else for (const m of fs.readFileSync(p, 'utf8').matchAll(/debugFor\('([a-z-]+)'\)/g)) used.add(m[1]!);
      }
    };
    walk(path.join(root, 'src'));
    const lists = [...docs['README.md'].matchAll(/namespaces (`leaderlink:[^)]*)\)/g)].map((m) => new Set([...m[1]!.matchAll(/`(?:leaderlink)?:([a-z-]+)`/g)].map((n) => n[1]!)));
    expect(lists.length).toBeGreaterThanOrEqual(2);
    for (const list of lists) expect([...list].sort()).toEqual([...used].sort());
  });
});
