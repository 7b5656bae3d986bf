/** The named profiles (`profiles: [if, cisco-envmon]`); each file has the OIDs it reads and how they map. */
import type { ProfileName } from "../config.js";
import { ciscoEnvmonProfile } from "./cisco-envmon.js";
import { entitySensorProfile } from "./entity-sensor.js";
import { hostResourcesProfile } from "./host-resources.js";
import { ifProfile } from "./if.js";
import type { Profile } from "./types.js";
import { ucdProfile } from "./ucd.js";

export const PROFILE_DEFS: Readonly<Record<ProfileName, Profile>> = {
  if: ifProfile,
  "entity-sensor": entitySensorProfile,
  "host-resources": hostResourcesProfile,
  ucd: ucdProfile,
  "cisco-envmon": ciscoEnvmonProfile,
};

export { customProfile } from "./custom.js";
export type { Out, Profile, Reader } from "./types.js";
