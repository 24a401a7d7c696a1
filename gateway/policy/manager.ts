// The policies in force, kept current: one compiled set per combination of packs and files
// (the gateway's policy.packs/policy.files plus a connection's own), rebuilt when a file it was
// read from changes. An edit that does not validate keeps the previous set in force and is
// logged loudly; the data paths never see a half-read policy.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../../lib/log.ts';
import type { CompiledPolicy } from './compile.ts';
import { loadPolicies, PACKS_DIR, readPack } from './load.ts';

export interface PolicySelection {
  readonly packs: readonly string[];
  readonly files: readonly string[];
}

interface Entry {
  policy: CompiledPolicy;
  /** Files it was read from, with the modification time seen. */
  stamps: Map<string, number>;
}

export interface PolicyManagerOptions {
  readonly logger: Logger;
  /** Milliseconds between checks of the files for changes. Default 2000; 0 = never. */
  readonly reloadIntervalMs?: number;
  readonly packsDir?: string;
}

export class PolicyManager {
  readonly #entries = new Map<string, Entry>();
  readonly #logger: Logger;
  readonly #packsDir: string;
  readonly #timer: NodeJS.Timeout | undefined;

  constructor(options: PolicyManagerOptions) {
    this.#logger = options.logger;
    this.#packsDir = options.packsDir ?? PACKS_DIR;
    const every = options.reloadIntervalMs ?? 2000;
    if (every > 0) {
      this.#timer = setInterval(() => this.reloadChanged(), every);
      this.#timer.unref();
    }
  }

  /**
   * The compiled set for `selection`, built on first use. Throws GW_POLICY_INVALID when it has
   * never been valid (the caller refuses the request: fail closed).
   */
  get(selection: PolicySelection): CompiledPolicy {
    const key = JSON.stringify([selection.packs, selection.files]);
    let entry = this.#entries.get(key);
    if (!entry) {
      entry = this.#build(selection);
      this.#entries.set(key, entry);
    }
    return entry.policy;
  }

  /** Rebuilds every set whose files changed; an invalid change keeps the previous set. */
  reloadChanged(): void {
    for (const [key, entry] of this.#entries) {
      if (![...entry.stamps].some(([file, mtime]) => mtimeOf(file) !== mtime)) continue;
      const [packs, files] = JSON.parse(key) as [string[], string[]];
      try {
        const next = this.#build({ packs, files });
        this.#entries.set(key, next);
        this.#logger.info('policy reloaded', { packs, files, rules: next.policy.rules.length });
      } catch (err) {
        // Remember the new stamps so the same broken edit is reported once, not every interval.
        entry.stamps = this.#stampsOf(packs, files);
        this.#logger.error('POLICY NOT RELOADED: the edited policy is invalid; the previous one stays in force', { packs, files, reason: (err as Error).message });
      }
    }
  }

  close(): void {
    clearInterval(this.#timer);
  }

  #build(selection: PolicySelection): Entry {
    const policy = loadPolicies({ packs: selection.packs, files: selection.files, packsDir: this.#packsDir });
    return { policy, stamps: this.#stampsOf(selection.packs, selection.files) };
  }

  #stampsOf(packs: readonly string[], files: readonly string[]): Map<string, number> {
    const paths = new Set<string>(files);
    for (const pack of packs) {
      try {
        for (const p of readPack(pack, this.#packsDir)) paths.add(p.file);
      } catch {
        paths.add(join(this.#packsDir, `${pack}.yaml`));
      }
    }
    return new Map([...paths].map((p) => [p, mtimeOf(p)]));
  }
}

function mtimeOf(file: string): number {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return -1;
  }
}
