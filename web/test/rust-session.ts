/**
 * The Rust side of the MLS interop tests: `crates/interop` (`interop mls`), a line-oriented
 * JSON session holding an openmls group, the server's public view and native members.
 */

import { spawn, type ChildProcessByStdio } from "node:child_process";
import type { Readable, Writable } from "node:stream";
import { createInterface, type Interface } from "node:readline";

import type { EpochKeySink } from "../src/e2ee/mls";
import { MediaKeys } from "../src/sframe/media-keys";
import { REPO_ROOT } from "./vectors";

export type Answer = Record<string, unknown> & { error?: string };
export interface RustMember {
  epoch: string;
  leaf: number;
  safety_code: string;
  removed: boolean;
  roster: string[];
}

export class RustSession {
  private readonly child: ChildProcessByStdio<Writable, Readable, null>;
  private readonly lines: Interface;
  private readonly waiting: ((line: string) => void)[] = [];

  constructor() {
    this.child = spawn("cargo", ["run", "--quiet", "--locked", "-p", "interop", "--", "mls"], {
      cwd: REPO_ROOT,
      stdio: ["pipe", "pipe", "inherit"],
    });
    this.lines = createInterface({ input: this.child.stdout });
    this.lines.on("line", (line) => this.waiting.shift()?.(line));
  }

  /** Sends one command and returns its answer; an error answer fails the test. */
  async call(command: Record<string, unknown>): Promise<Answer> {
    const answer = await this.try(command);
    if (answer.error !== undefined) throw new Error(`rust: ${answer.error}`);
    return answer;
  }

  try(command: Record<string, unknown>): Promise<Answer> {
    return new Promise((resolve) => {
      this.waiting.push((line) => resolve(JSON.parse(line) as Answer));
      this.child.stdin.write(`${JSON.stringify(command)}\n`);
    });
  }

  close(): void {
    this.child.stdin.end();
  }
}

/** The web client's SFrame keys, fed by the MLS member as MediaCrypto would be. */
export class KeysSink implements EpochKeySink {
  readonly keys = new MediaKeys();
  leaf = -1;
  setOwnLeaf(leaf: number): void {
    this.leaf = leaf;
  }
  installEpoch(epoch: bigint, baseKey: Uint8Array<ArrayBuffer>): void {
    this.keys.installEpoch(epoch, baseKey, 0);
  }
}

export function members(answer: Answer): Record<string, RustMember> {
  return answer["members"] as Record<string, RustMember>;
}

