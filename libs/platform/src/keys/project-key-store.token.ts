/**
 * The Nest token of the store of projects' wrapped keys: the catalog provides it, the key service in the blockstore
 * uses it (two domain libraries that do not import each other).
 */
export const PROJECT_KEY_STORE = 'island.ProjectKeyStore';
