/** cluster-key-slot (ioredis's own CRC16 of a key's hash tag) ships no types. */
declare module "cluster-key-slot" {
  /** The Redis Cluster slot (0–16383) of `key`. */
  export default function calculateSlot(key: string): number;
}
