// A private PostgreSQL database per test run: DATABASE_URL if set, else the local server with
// trust auth that CI runs; skipped with a message saying how to run them when none answers.
import pg from 'pg';
import { randomBytes } from 'node:crypto';

export const PG_DEFAULT_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

export interface PrivateDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = '/' + name;
  return u.toString();
}

function shown(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}

/** CREATE DATABASE depin_test_<random> on the server of DATABASE_URL (or the default); drop() removes it. */
export async function privateDatabase(): Promise<PrivateDatabase | { skip: string }> {
  const admin = process.env.DATABASE_URL || PG_DEFAULT_URL;
  const c = new pg.Client({ connectionString: admin, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
  } catch (e) {
    return { skip: 'PostgreSQL not reachable at ' + shown(admin) + ': set DATABASE_URL or start a server to run these tests (' + (e as Error).message + ')' };
  }
  const name = 'depin_test_' + randomBytes(6).toString('hex');
  try {
    await c.query('CREATE DATABASE ' + name);
  } catch (e) {
    await c.end();
    return { skip: 'PostgreSQL at ' + shown(admin) + ' did not create a test database (' + (e as Error).message + '): give the user CREATEDB to run these tests' };
  }
  await c.end();
  return {
    url: withDatabase(admin, name),
    name,
    async drop() {
      const d = new pg.Client({ connectionString: admin, connectionTimeoutMillis: 3000 });
      await d.connect();
      try {
        await d.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
        await d.query('DROP DATABASE IF EXISTS ' + name);
      } finally {
        await d.end();
      }
    },
  };
}
