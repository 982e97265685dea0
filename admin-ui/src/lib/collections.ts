// The collection list every screen shares, loaded from GET /api/collections.
import { writable } from "svelte/store";
import { api, ApiError } from "./api";
import type { JsonObject } from "./schema";

export type CollectionType = "base" | "auth" | "view";

export interface IndexDef {
  name?: string;
  fields: string[];
  unique?: boolean;
  where?: string;
}

export interface Collection {
  id: string;
  name: string;
  type: CollectionType;
  system: boolean;
  schema: JsonObject;
  indexes: IndexDef[];
  listRule: string | null;
  viewRule: string | null;
  createRule: string | null;
  updateRule: string | null;
  deleteRule: string | null;
  authRule?: string | null;
  manageRule?: string | null;
  viewQuery?: string;
  created: string;
  updated: string;
  [key: string]: unknown;
}

export interface ListResult<T> {
  page: number;
  perPage: number;
  totalItems: number;
  totalPages: number;
  items: T[];
}

export const collections = writable<Collection[]>([]);
export const collectionsLoaded = writable(false);
export const collectionsError = writable("");

export async function loadCollections(): Promise<void> {
  try {
    const all: Collection[] = [];
    for (let page = 1; ; page++) {
      const r = await api<ListResult<Collection>>("/api/collections", { query: { page, perPage: 500, sort: "name" } });
      all.push(...r.items);
      if (r.items.length < r.perPage || page >= r.totalPages) break;
    }
    collections.set(all);
    collectionsError.set("");
  } catch (e) {
    collectionsError.set(e instanceof ApiError ? e.message : String(e));
  } finally {
    collectionsLoaded.set(true);
  }
}

export const RULES = ["listRule", "viewRule", "createRule", "updateRule", "deleteRule"] as const;
export const AUTH_RULES = ["authRule", "manageRule"] as const;
export type RuleKey = (typeof RULES)[number] | (typeof AUTH_RULES)[number];

export const RULE_LABELS: Record<RuleKey, string> = {
  listRule: "List/Search",
  viewRule: "View",
  createRule: "Create",
  updateRule: "Update",
  deleteRule: "Delete",
  authRule: "Authentication",
  manageRule: "Manage",
};

/** System columns every record of this collection has, besides its schema properties. */
export function systemFields(c: Pick<Collection, "type">): string[] {
  if (c.type === "auth") return ["id", "email", "emailVisibility", "verified", "created", "updated"];
  if (c.type === "view") return ["id"];
  return ["id", "created", "updated"];
}
