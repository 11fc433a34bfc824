// Prints the folder whose include/node holds the C headers of the Node.js that runs this script, or
// nothing when there is none. node-gyp builds native addons from source against `nodedir`; with
// no nodedir it downloads the headers, which fails offline, and a nodedir left over from another
// Node (these machines set nodedir=/usr for Debian's Node 20) builds an addon that the running
// Node refuses to load (NODE_MODULE_VERSION mismatch). setup.sh points npm_config_nodedir here.
"use strict";
const fs = require("fs");
const path = require("path");

/** The version "major.minor.patch" that <dir>/include/node/node_version.h declares, or undefined. */
function headersVersion(dir) {
  let text;
  try {
    text = fs.readFileSync(path.join(dir, "include", "node", "node_version.h"), "utf8");
  } catch {
    return undefined;
  }
  const part = (name) => text.match(new RegExp(`#define ${name} (\\d+)`))?.[1];
  const [major, minor, patch] = [part("NODE_MAJOR_VERSION"), part("NODE_MINOR_VERSION"), part("NODE_PATCH_VERSION")];
  return major && minor && patch ? `${major}.${minor}.${patch}` : undefined;
}

const binDir = path.dirname(fs.realpathSync(process.execPath));
const candidates = [
  process.argv[2], // the nodedir npm is configured with, if any: kept when it matches
  path.join(binDir, ".."), // an official tarball, nvm, Debian and NodeSource: bin/node beside include/node
  // the npm registry's `node` package: bin/node is a hard link of node-<platform>-<arch>/bin/node,
  // which it installs as its own dependency together with include/node
  path.join(binDir, "..", "node_modules", `node-${process.platform}-${process.arch}`),
  path.join(binDir, "..", "node_modules", `node-bin-${process.platform}-${process.arch}`),
].filter(Boolean);

const match = candidates.find((dir) => headersVersion(dir) === process.versions.node);
if (match) console.log(path.resolve(match));
