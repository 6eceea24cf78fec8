// Every command, in the order --help lists them.
import type { Command } from "../command.ts";
import { cat } from "./cat.ts";
import { checkpoint, checkpoints } from "./checkpoint.ts";
import { diff } from "./diff.ts";
import { du } from "./du.ts";
import { fork } from "./fork.ts";
import { fsck } from "./fsck.ts";
import { gc } from "./gc.ts";
import { get } from "./get.ts";
import { log } from "./log.ts";
import { ls } from "./ls.ts";
import { probe } from "./probe.ts";
import { put } from "./put.ts";
import { restore } from "./restore.ts";
import { stat } from "./stat.ts";
import { sync } from "./sync.ts";
import { tree } from "./tree.ts";

export const COMMANDS: readonly Command[] = [ls, cat, stat, du, tree, put, get, sync, log, diff, checkpoint, checkpoints, restore, fork, fsck, gc, probe];

export function findCommand(name: string): Command | undefined {
  return COMMANDS.find((c) => c.name === name);
}
