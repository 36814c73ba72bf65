// `npx tsx bench/profile-summary.ts <file.cpuprofile> [calls]`: where a V8 CPU profile's time went, as self time
// by function and by module (an npm package, a file of ours, Node's internals), and inclusive time of our own
// functions; per call when the number of calls is given.
import { readFileSync } from "node:fs";

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
const [file, calls = "1"] = process.argv.slice(2);
const profile = JSON.parse(readFileSync(file!, "utf8")) as {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
};
const n = Number(calls);
const self = new Map<number, number>();
profile.samples.forEach((id, i) => {
  self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
});
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const parent = new Map<number, number>();
for (const node of profile.nodes) for (const c of node.children ?? []) parent.set(c, node.id);

function moduleOf(url: string): string {
  if (!url) return "(native/vm)";
  const nm = url.lastIndexOf("node_modules/");
  if (nm !== -1) {
    const rest = url.slice(nm + "node_modules/".length).split("/");
    return rest[0]!.startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (url.startsWith("node:")) return url;
  const ours = url.indexOf("/lambda/");
  if (ours !== -1) return url.slice(ours + 1).replace(/^file:\/\//, "");
  return url.replace(/^file:\/\//, "");
}
const fnName = (node: Node) =>
  `${node.callFrame.functionName || "(anonymous)"} ${moduleOf(node.callFrame.url)}:${node.callFrame.lineNumber + 1}`;

const add = (map: Map<string, number>, key: string, v: number) => map.set(key, (map.get(key) ?? 0) + v);
const selfByFn = new Map<string, number>();
const selfByModule = new Map<string, number>();
const inclusiveOurs = new Map<string, number>();
let total = 0;
for (const [id, us] of self) {
  const node = byId.get(id)!;
  total += us;
  add(selfByFn, fnName(node), us);
  add(selfByModule, moduleOf(node.callFrame.url), us);
  const seen = new Set<string>();
  for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
    const a = byId.get(at)!;
    const name = fnName(a);
    if (!a.callFrame.url.includes("/lambda/") || seen.has(name)) continue;
    seen.add(name);
    add(inclusiveOurs, name, us);
  }
}
const show = (title: string, map: Map<string, number>, top: number) => {
  console.log(`\n${title}`);
  for (const [name, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top))
    console.log(`${(us / n).toFixed(0).padStart(7)} µs/call ${((100 * us) / total).toFixed(1).padStart(5)}%  ${name}`);
};
console.log(`sampled ${(total / 1000).toFixed(0)} ms over ${n} call(s): ${(total / n).toFixed(0)} µs/call`);
show("self time by module", selfByModule, 30);
show("self time by function", selfByFn, 40);
show("inclusive time of our functions", inclusiveOurs, 40);
