import fs from 'node:fs';
import path from 'node:path';
import { isAlive, LEASE_DIR } from '../helpers/ports.js';

/**
 * vitest globalSetup: at the end of the run, removes the port leases (test/helpers/ports.ts) of
 * processes that are gone. Test processes end without their exit handlers often enough (killed
 * by the pool) that their leases would pile up; a lease of a dead process is free anyway, this
 * only keeps the directory small. Leases of live processes (another suite running) are left.
 */
export default function setup(): () => void {
  return () => {
    let names: string[];
    try {
      names = fs.readdirSync(LEASE_DIR);
    } catch {
      return;
    }
    for (const name of names) {
      const file = path.join(LEASE_DIR, name);
      let owner: number;
      try {
        owner = Number(fs.readFileSync(file, 'utf8'));
      } catch {
        continue;
      }
      if (!isAlive(owner)) fs.rmSync(file, { force: true });
    }
  };
}
