/**
 * Approximate location on the devices page ("Lisbon, Portugal", as GitHub shows it): an
 * optional hook from an IP address to a place, given to `createDemoApp({ locate })`.
 *
 * Nothing here calls a network service: without a hook the page shows no location, and the
 * demo's own hook (`npm run demo`) is a table that only knows this machine's addresses. For
 * real places, look the address up in a local MaxMind-format database (README: "Approximate
 * location").
 */

/** IP address → "City, Country" (or any short place name), or nothing when unknown. */
export type Locate = (ip: string) => string | null | undefined | Promise<string | null | undefined>;

/** The demo's built-in places: the loopback addresses a browser on this machine comes from. */
export const LOCAL_PLACES: Readonly<Record<string, string>> = {
  "127.0.0.1": "Localhost",
  "::1": "Localhost",
};

/** Longest place name shown, in code points: a hook's answer is data, not layout. */
const MAX_PLACE_LENGTH = 80;

/** A hook that answers from a fixed table (exact addresses), nothing else. */
export function locateFromTable(table: Readonly<Record<string, string>>): Locate {
  return (ip) => (Object.hasOwn(table, ip) ? table[ip] : undefined);
}

/**
 * The place of each distinct address, asked once each. A hook that throws or answers
 * something that is not text leaves that address without a place (and says so in the log):
 * a location is a nicety, never a reason for the page to fail.
 */
export async function placesOf(
  ips: readonly (string | null)[],
  locate: Locate | undefined,
): Promise<ReadonlyMap<string, string>> {
  const places = new Map<string, string>();
  if (locate === undefined) return places;
  const distinct = [...new Set(ips.filter((ip): ip is string => ip !== null))];
  await Promise.all(
    distinct.map(async (ip) => {
      try {
        const place = await locate(ip);
        const shown = typeof place === "string" ? [...place.trim()].slice(0, MAX_PLACE_LENGTH).join("") : "";
        if (shown !== "") places.set(ip, shown);
      } catch (err) {
        console.warn(`[demo] locate(${ip}) failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }),
  );
  return places;
}
