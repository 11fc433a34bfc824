/**
 * @akashnetwork/chain-sdk, pinned at 1.0.0-alpha.25, loaded in one place. The package publishes its
 * entry points only through `exports`, which this project's TypeScript setting (moduleResolution
 * "node", needed by Hardhat 2 / ts-node) does not read for types; Node itself resolves them at run
 * time. So the modules are required by their public names and typed from the package's own
 * declaration files.
 */
/* eslint-disable @typescript-eslint/no-require-imports */
type Root = typeof import("../../../node_modules/@akashnetwork/chain-sdk/dist/types/index");
type Web = typeof import("../../../node_modules/@akashnetwork/chain-sdk/dist/types/index.web");
type AkashV1 = typeof import("../../../node_modules/@akashnetwork/chain-sdk/dist/types/generated/protos/index.akash.v1");
type AkashV1beta4 = typeof import("../../../node_modules/@akashnetwork/chain-sdk/dist/types/generated/protos/index.akash.v1beta4");
type AkashV1beta5 = typeof import("../../../node_modules/@akashnetwork/chain-sdk/dist/types/generated/protos/index.akash.v1beta5");

export const chainSdk: Root = require("@akashnetwork/chain-sdk");
export const chainSdkWeb: Web = require("@akashnetwork/chain-sdk/web");
export const akashV1: AkashV1 = require("@akashnetwork/chain-sdk/private-types/akash.v1");
export const akashV1beta4: AkashV1beta4 = require("@akashnetwork/chain-sdk/private-types/akash.v1beta4");
export const akashV1beta5: AkashV1beta5 = require("@akashnetwork/chain-sdk/private-types/akash.v1beta5");
export type { TxClient } from "../../../node_modules/@akashnetwork/chain-sdk/dist/types/index";
export type SdlInstance = InstanceType<Root["SDL"]>;
