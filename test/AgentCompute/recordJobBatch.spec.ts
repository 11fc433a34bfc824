import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { systemFixture } from "../shared/fixtures";

type Leaf = [string, string, bigint];
const LEAF_TYPES = ["string", "bytes32", "uint256"];

function batch(n: number, salt = "a"): StandardMerkleTree<Leaf> {
  const leaves: Leaf[] = Array.from({ length: n }, (_, i) => [
    `job-${salt}-${i}`,
    ethers.id(`{"success":true,"job":${i}}`),
    BigInt(100 + i),
  ]);
  return StandardMerkleTree.of(leaves, LEAF_TYPES);
}

describe("AgentCompute.recordJobBatch and verifyJob", () => {
  it("stores the batch and emits JobBatchRecorded", async () => {
    const s = await loadFixture(systemFixture);
    const tree = batch(5);
    const tx = s.compute.connect(s.keeper).recordJobBatch(tree.root, 5, 510n);
    await expect(tx).to.emit(s.compute, "JobBatchRecorded").withArgs(tree.root, s.keeper.address, 5, 510n);
    const stored = await s.compute.getJobBatch(tree.root);
    expect(stored.jobCount).to.equal(5n);
    expect(stored.wattTotal).to.equal(510n);
    expect(stored.recordedAt).to.be.gt(0n);
  });

  it("verifies every job's inclusion proof from @openzeppelin/merkle-tree against the stored root", async () => {
    const s = await loadFixture(systemFixture);
    const tree = batch(37);
    await s.compute.connect(s.keeper).recordJobBatch(tree.root, 37, 0n);
    for (const [i, [jobId, outcome, watt]] of tree.entries()) {
      expect(await s.compute.verifyJob(tree.root, tree.getProof(i), jobId, outcome, watt)).to.equal(true);
    }
  });

  it("rejects a proof for a tampered leaf: another job id, result or charge", async () => {
    const s = await loadFixture(systemFixture);
    const tree = batch(8);
    await s.compute.connect(s.keeper).recordJobBatch(tree.root, 8, 0n);
    const [jobId, outcome, watt] = tree.at(3)!;
    const proof = tree.getProof(3);
    expect(await s.compute.verifyJob(tree.root, proof, jobId + "x", outcome, watt)).to.equal(false);
    expect(await s.compute.verifyJob(tree.root, proof, jobId, ethers.id("forged"), watt)).to.equal(false);
    expect(await s.compute.verifyJob(tree.root, proof, jobId, outcome, watt + 1n)).to.equal(false);
    expect(await s.compute.verifyJob(tree.root, tree.getProof(4), jobId, outcome, watt)).to.equal(false);
  });

  it("when the root was never recorded, verifyJob is false even for a valid proof", async () => {
    const s = await loadFixture(systemFixture);
    const tree = batch(4);
    const [jobId, outcome, watt] = tree.at(0)!;
    expect(await s.compute.verifyJob(tree.root, tree.getProof(0), jobId, outcome, watt)).to.equal(false);
  });

  it("when the root was already recorded, reverts with BatchAlreadyRecorded", async () => {
    const s = await loadFixture(systemFixture);
    const tree = batch(3);
    await s.compute.connect(s.keeper).recordJobBatch(tree.root, 3, 0n);
    await expect(s.compute.connect(s.keeper).recordJobBatch(tree.root, 3, 0n))
      .to.be.revertedWithCustomError(s.compute, "BatchAlreadyRecorded")
      .withArgs(tree.root);
  });

  it("when the batch is empty, reverts with EmptyBatch", async () => {
    const s = await loadFixture(systemFixture);
    await expect(s.compute.connect(s.keeper).recordJobBatch(ethers.id("r"), 0, 0n)).to.be.revertedWithCustomError(s.compute, "EmptyBatch");
  });

  it("from anyone but the keeper, reverts with AccessControlUnauthorizedAccount", async () => {
    const s = await loadFixture(systemFixture);
    await expect(s.c.recordJobBatch(ethers.id("r"), 1, 0n)).to.be.revertedWithCustomError(s.compute, "AccessControlUnauthorizedAccount");
  });
});
