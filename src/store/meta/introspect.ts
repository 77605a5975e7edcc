import { sql, type Kysely } from "kysely";

// What the meta store holds, read from the engine's own catalogue rather than from our schema
// file, so `clawkeep audit schema` shows what is really there (seed 001's `\dt`): a user can
// check that no table or column exists where message content could be kept.

export interface TableInfo {
  table: string;
  columns: { name: string; type: string }[];
}

export async function describeSchema(db: Kysely<unknown>, dialect: "sqlite" | "postgres"): Promise<TableInfo[]> {
  const out = new Map<string, TableInfo>();
  const add = (table: string, name: string, type: string) => {
    let t = out.get(table);
    if (!t) out.set(table, (t = { table, columns: [] }));
    t.columns.push({ name, type: type.toLowerCase() });
  };
  if (dialect === "sqlite") {
    const rows = await sql<{ table_name: string; name: string; type: string }>`
      select m.name as table_name, p.name as name, p.type as type
      from sqlite_master m join pragma_table_info(m.name) p
      where m.type = 'table' and m.name not like 'sqlite_%'
      order by m.name, p.cid`.execute(db);
    for (const r of rows.rows) add(r.table_name, r.name, r.type);
  } else {
    const rows = await sql<{ table_name: string; column_name: string; data_type: string }>`
      select table_name, column_name, data_type from information_schema.columns
      where table_schema = current_schema()
      order by table_name, ordinal_position`.execute(db);
    for (const r of rows.rows) add(r.table_name, r.column_name, r.data_type);
  }
  return [...out.values()].sort((a, b) => a.table.localeCompare(b.table));
}
