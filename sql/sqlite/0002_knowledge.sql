-- Knowledge: a tenant's documents, their chunks (with optional embeddings), and a full-text index.
-- The full-text index is SQLite FTS5 (SQLite-only on purpose: sql/postgres uses a
-- generated tsvector column with unaccent; only src/knowledge/Knowledge.ts knows this table).

CREATE TABLE knowledge_documents (
  id          TEXT PRIMARY KEY,
  tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  title       TEXT NOT NULL,
  content     TEXT NOT NULL,
  created_at  TEXT NOT NULL
);
CREATE INDEX knowledge_documents_tenant ON knowledge_documents(tenant_id);

CREATE TABLE knowledge_chunks (
  id               INTEGER PRIMARY KEY,
  tenant_id        TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  document_id      TEXT NOT NULL REFERENCES knowledge_documents(id) ON DELETE CASCADE,
  ordinal          INTEGER NOT NULL,              -- position of the chunk in its document
  title            TEXT NOT NULL,                 -- the document's title, kept on every chunk
  text             TEXT NOT NULL,
  embedding        BLOB,                          -- float32 little-endian, NULL when not embedded
  embedding_model  TEXT                           -- e.g. text-embedding-3-small; vectors of other models are ignored
);
CREATE INDEX knowledge_chunks_tenant ON knowledge_chunks(tenant_id, id);
CREATE INDEX knowledge_chunks_document ON knowledge_chunks(document_id, ordinal);

-- Contentless FTS5 index over the chunks; rowid = knowledge_chunks.id, and results are joined back to it.
-- Rows hold FOLDED text (lower case, no accents, œ→oe, æ→ae: see src/knowledge/text.ts), because
-- unicode61 does not fold ligatures. `tenant` holds one token per tenant ('t' + hex of the id), so a
-- query is `tenant : "t…" AND (…)` and only walks that tenant's postings; the join back also filters
-- on knowledge_chunks.tenant_id. Inserted explicitly by the application (folding happens there);
-- deleted by the trigger below, including when a document or tenant deletion cascades to its chunks.
CREATE VIRTUAL TABLE knowledge_fts USING fts5(
  tenant,
  title,
  body,
  content = '',
  contentless_delete = 1,
  tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER knowledge_chunks_fts_delete AFTER DELETE ON knowledge_chunks BEGIN
  DELETE FROM knowledge_fts WHERE rowid = old.id;
END;
