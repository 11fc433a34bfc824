import { expect } from "chai";
import crypto from "node:crypto";
import { buildSdl, fromSdlText, sdlDocument, InvalidSdl } from "../../../../keeper/providers/akash/sdl";
import { ProvisionError } from "../../../../keeper/providers/provider";

const base = { image: "ghcr.io/acme/agent:1.2", cpu: 2, memoryMb: 4096, env: { A: "1", TOKEN: "x=y" } };

describe("akash SDL from the session's request", () => {
  it("carries CPU, memory, storage, ports, env and command into the SDL and the deployment group", async () => {
    const b = await buildSdl({ ...base, storageMb: 10_240, ports: [8080, 9000], command: ["python3", "-m", "http.server"] }, 123);
    const doc = JSON.parse(b.text);
    const svc = doc.services.app;
    expect(svc.image).to.equal("ghcr.io/acme/agent:1.2");
    expect(svc.env).to.deep.equal(["A=1", "TOKEN=x=y"]);
    expect(svc.command).to.deep.equal(["python3"]);
    expect(svc.args).to.deep.equal(["-m", "http.server"]);
    expect(svc.expose.map((e: { port: number }) => e.port)).to.deep.equal([8080, 9000]);
    const res = doc.profiles.compute.app.resources;
    expect(res).to.deep.include({ cpu: { units: 2 }, memory: { size: "4096Mi" }, storage: [{ size: "10240Mi" }] });
    expect(doc.profiles.placement.akash.pricing.app).to.deep.equal({ denom: "uakt", amount: 123 });
    const g = b.groups[0] as {
      resources: {
        resource: { cpu: { units: { val: Uint8Array } }; memory: { quantity: { val: Uint8Array } } };
        price: { amount: string };
      }[];
    };
    expect(Buffer.from(g.resources[0].resource.cpu.units.val).toString()).to.equal("2000"); // millicores
    expect(Buffer.from(g.resources[0].resource.memory.quantity.val).toString()).to.equal(String(4096 * 1024 * 1024));
    expect(g.resources[0].price.amount).to.equal("123");
  });

  it("asks for the GPU model and count", async () => {
    const b = await buildSdl({ ...base, gpu: { count: 2, model: "a100" } }, 500);
    const doc = JSON.parse(b.text);
    expect(doc.profiles.compute.app.resources.gpu).to.deep.equal({ units: 2, attributes: { vendor: { nvidia: [{ model: "a100" }] } } });
    const g = b.groups[0] as {
      resources: { resource: { gpu: { units: { val: Uint8Array }; attributes: { key: string; value: string }[] } } }[];
    };
    expect(Buffer.from(g.resources[0].resource.gpu.units.val).toString()).to.equal("2");
    expect(g.resources[0].resource.gpu.attributes.map((a) => a.key)).to.include("vendor/nvidia/model/a100");
  });

  it("puts required provider attributes and auditors in the placement", () => {
    const doc = sdlDocument(base, 10, { region: "eu-west" }, ["akash1auditor"]) as {
      profiles: { placement: { akash: Record<string, unknown> } };
    };
    expect(doc.profiles.placement.akash.attributes).to.deep.equal({ region: "eu-west" });
    expect(doc.profiles.placement.akash.signedBy).to.deep.equal({ anyOf: ["akash1auditor"] });
  });

  it("version hash is sha256 of the sorted manifest, and changes when the request changes", async () => {
    const a = await buildSdl(base, 10);
    expect(Buffer.from(a.hash).toString("hex")).to.equal(crypto.createHash("sha256").update(a.manifestJson).digest("hex"));
    const b = await buildSdl({ ...base, env: { A: "2", TOKEN: "x=y" } }, 10);
    expect(Buffer.from(b.hash).equals(Buffer.from(a.hash))).to.equal(false);
  });

  const bad: [string, object][] = [
    ["no image", { image: undefined }],
    ["an image with YAML in it", { image: "x\nservices: {}" }],
    ["a port out of range", { ports: [70000] }],
    ["a duplicate port", { ports: [80, 80] }],
    ["a GPU model with spaces", { gpu: { count: 1, model: "a100 ; rm" } }],
    ["a fractional GPU count", { gpu: { count: 1.5 } }],
    ["a newline in an env value", { env: { A: "1\nB=2" } }],
    ["zero CPU", { cpu: 0 }],
  ];
  for (const [name, patch] of bad) {
    it(`rejects ${name} as AKASH_SDL_INVALID (not retryable)`, async () => {
      const err = await buildSdl({ ...base, ...patch } as never, 10).then(
        () => undefined,
        (e) => e,
      );
      expect(err).to.be.instanceOf(InvalidSdl);
      expect(err).to.be.instanceOf(ProvisionError);
      expect(err.retryable).to.equal(false);
      expect(err.message).to.match(/^AKASH_SDL_INVALID/);
    });
  }

  it("rejects what the SDK's own validator rejects (a deployment naming an unknown profile)", async () => {
    const doc = sdlDocument(base, 10) as { deployment: { app: { akash: { profile: string } } } };
    doc.deployment.app.akash.profile = "nope";
    const err = await fromSdlText(JSON.stringify(doc)).then(
      () => undefined,
      (e) => e,
    );
    expect(err).to.be.instanceOf(InvalidSdl);
    expect(err.retryable).to.equal(false);
  });
});
