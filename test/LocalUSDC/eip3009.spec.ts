/**
 * The local USDC's EIP-3009 (as Base's USDC): transferWithAuthorization in both signature forms,
 * receiveWithAuthorization, cancelAuthorization, authorizationState, the events and every refusal,
 * signed under the token's existing EIP-712 domain (name "USD Coin", version "1").
 */
import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import type { Signer } from "ethers";

const TRANSFER = [
  { name: "from", type: "address" },
  { name: "to", type: "address" },
  { name: "value", type: "uint256" },
  { name: "validAfter", type: "uint256" },
  { name: "validBefore", type: "uint256" },
  { name: "nonce", type: "bytes32" },
];

async function fixture() {
  const [payer, payee, relayer, other] = await ethers.getSigners();
  const usdc = await (await ethers.getContractFactory("LocalUSDC")).deploy();
  await usdc.mint(payer.address, 1_000_000_000n);
  const d = await usdc.eip712Domain();
  const domain = { name: d.name, version: d.version, chainId: d.chainId, verifyingContract: d.verifyingContract };
  return { usdc, payer, payee, relayer, other, domain };
}

type F = Awaited<ReturnType<typeof fixture>>;

async function authorize(
  f: F,
  signer: Signer,
  kind: "TransferWithAuthorization" | "ReceiveWithAuthorization",
  o: { from?: string; to?: string; value?: bigint; validAfter?: bigint; validBefore?: bigint; nonce?: string } = {},
) {
  const now = BigInt(await time.latest());
  const m = {
    from: o.from ?? (await signer.getAddress()),
    to: o.to ?? f.payee.address,
    value: o.value ?? 5_000_000n,
    validAfter: o.validAfter ?? 0n,
    validBefore: o.validBefore ?? now + 3600n,
    nonce: o.nonce ?? ethers.hexlify(ethers.randomBytes(32)),
  };
  const signature = await signer.signTypedData(f.domain, { [kind]: TRANSFER }, m);
  const sig = ethers.Signature.from(signature);
  return { m, signature, v: sig.v, r: sig.r, s: sig.s };
}

describe("LocalUSDC: EIP-3009", () => {
  it("keeps the permit's EIP-712 domain: name USD Coin, version 1", async () => {
    const f = await loadFixture(fixture);
    expect(f.domain.name).to.equal("USD Coin");
    expect(f.domain.version).to.equal("1");
  });

  it("transferWithAuthorization (v, r, s) by a relayer moves the value, marks the nonce used and emits AuthorizationUsed", async () => {
    const f = await loadFixture(fixture);
    const a = await authorize(f, f.payer, "TransferWithAuthorization");
    const tx = f.usdc
      .connect(f.relayer)
      .getFunction("transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,uint8,bytes32,bytes32)")(
      a.m.from,
      a.m.to,
      a.m.value,
      a.m.validAfter,
      a.m.validBefore,
      a.m.nonce,
      a.v,
      a.r,
      a.s,
    );
    await expect(tx)
      .to.emit(f.usdc, "AuthorizationUsed")
      .withArgs(f.payer.address, a.m.nonce)
      .and.to.emit(f.usdc, "Transfer")
      .withArgs(f.payer.address, f.payee.address, a.m.value);
    await expect(tx).to.changeTokenBalances(f.usdc, [f.payer, f.payee, f.relayer], [-a.m.value, a.m.value, 0n]);
    expect(await f.usdc.authorizationState(f.payer.address, a.m.nonce)).to.equal(true);
  });

  it("transferWithAuthorization (bytes signature) works the same", async () => {
    const f = await loadFixture(fixture);
    const a = await authorize(f, f.payer, "TransferWithAuthorization");
    await expect(
      f.usdc.connect(f.relayer).getFunction("transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,bytes)")(
        a.m.from,
        a.m.to,
        a.m.value,
        a.m.validAfter,
        a.m.validBefore,
        a.m.nonce,
        a.signature,
      ),
    ).to.changeTokenBalances(f.usdc, [f.payer, f.payee], [-a.m.value, a.m.value]);
  });

  const send = (f: F, a: Awaited<ReturnType<typeof authorize>>, by = f.relayer) =>
    f.usdc.connect(by).getFunction("transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,bytes)")(
      a.m.from,
      a.m.to,
      a.m.value,
      a.m.validAfter,
      a.m.validBefore,
      a.m.nonce,
      a.signature,
    );

  it("refuses a used nonce (a replay): AuthorizationAlreadyUsed", async () => {
    const f = await loadFixture(fixture);
    const a = await authorize(f, f.payer, "TransferWithAuthorization");
    await send(f, a);
    await expect(send(f, a)).to.be.revertedWithCustomError(f.usdc, "AuthorizationAlreadyUsed").withArgs(f.payer.address, a.m.nonce);
  });

  it("refuses before validAfter and from validBefore on", async () => {
    const f = await loadFixture(fixture);
    const now = BigInt(await time.latest());
    const early = await authorize(f, f.payer, "TransferWithAuthorization", { validAfter: now + 1000n });
    await expect(send(f, early)).to.be.revertedWithCustomError(f.usdc, "AuthorizationNotYetValid");
    const late = await authorize(f, f.payer, "TransferWithAuthorization", { validBefore: now + 10n });
    await time.increase(20);
    await expect(send(f, late)).to.be.revertedWithCustomError(f.usdc, "AuthorizationExpired");
  });

  it("refuses a signature by anyone else, or over other terms: InvalidAuthorizationSignature", async () => {
    const f = await loadFixture(fixture);
    const forged = await authorize(f, f.other, "TransferWithAuthorization", { from: f.payer.address });
    await expect(send(f, forged)).to.be.revertedWithCustomError(f.usdc, "InvalidAuthorizationSignature").withArgs(f.payer.address);
    const a = await authorize(f, f.payer, "TransferWithAuthorization");
    await expect(send(f, { ...a, m: { ...a.m, value: a.m.value + 1n } })).to.be.revertedWithCustomError(
      f.usdc,
      "InvalidAuthorizationSignature",
    );
    await expect(send(f, { ...a, m: { ...a.m, to: f.other.address } })).to.be.revertedWithCustomError(
      f.usdc,
      "InvalidAuthorizationSignature",
    );
    const asReceive = await authorize(f, f.payer, "ReceiveWithAuthorization"); // another type hash
    await expect(send(f, asReceive)).to.be.revertedWithCustomError(f.usdc, "InvalidAuthorizationSignature");
  });

  it("refuses a value above the balance (ERC20InsufficientBalance) and leaves the nonce unused", async () => {
    const f = await loadFixture(fixture);
    const a = await authorize(f, f.payer, "TransferWithAuthorization", { value: 2_000_000_000n });
    await expect(send(f, a)).to.be.revertedWithCustomError(f.usdc, "ERC20InsufficientBalance");
    expect(await f.usdc.authorizationState(f.payer.address, a.m.nonce)).to.equal(false);
  });

  it("receiveWithAuthorization: only the payee may submit it", async () => {
    const f = await loadFixture(fixture);
    const a = await authorize(f, f.payer, "ReceiveWithAuthorization");
    const args = [a.m.from, a.m.to, a.m.value, a.m.validAfter, a.m.validBefore, a.m.nonce, a.v, a.r, a.s] as const;
    await expect(f.usdc.connect(f.relayer).receiveWithAuthorization(...args))
      .to.be.revertedWithCustomError(f.usdc, "CallerNotPayee")
      .withArgs(f.relayer.address, f.payee.address);
    await expect(f.usdc.connect(f.payee).receiveWithAuthorization(...args))
      .to.emit(f.usdc, "AuthorizationUsed")
      .withArgs(f.payer.address, a.m.nonce);
    expect(await f.usdc.balanceOf(f.payee.address)).to.equal(a.m.value);
  });

  it("cancelAuthorization: the authorizer cancels an unused nonce (AuthorizationCanceled), which can then never be used", async () => {
    const f = await loadFixture(fixture);
    const a = await authorize(f, f.payer, "TransferWithAuthorization");
    const c = ethers.Signature.from(
      await f.payer.signTypedData(
        f.domain,
        {
          CancelAuthorization: [
            { name: "authorizer", type: "address" },
            { name: "nonce", type: "bytes32" },
          ],
        },
        { authorizer: f.payer.address, nonce: a.m.nonce },
      ),
    );
    const forged = ethers.Signature.from(
      await f.other.signTypedData(
        f.domain,
        {
          CancelAuthorization: [
            { name: "authorizer", type: "address" },
            { name: "nonce", type: "bytes32" },
          ],
        },
        { authorizer: f.payer.address, nonce: a.m.nonce },
      ),
    );
    await expect(
      f.usdc.connect(f.relayer).cancelAuthorization(f.payer.address, a.m.nonce, forged.v, forged.r, forged.s),
    ).to.be.revertedWithCustomError(f.usdc, "InvalidAuthorizationSignature");
    await expect(f.usdc.connect(f.relayer).cancelAuthorization(f.payer.address, a.m.nonce, c.v, c.r, c.s))
      .to.emit(f.usdc, "AuthorizationCanceled")
      .withArgs(f.payer.address, a.m.nonce);
    await expect(send(f, a)).to.be.revertedWithCustomError(f.usdc, "AuthorizationAlreadyUsed");
    await expect(f.usdc.connect(f.relayer).cancelAuthorization(f.payer.address, a.m.nonce, c.v, c.r, c.s)).to.be.revertedWithCustomError(
      f.usdc,
      "AuthorizationAlreadyUsed",
    );
    expect(await f.usdc.balanceOf(f.payer.address)).to.equal(1_000_000_000n);
  });
});
