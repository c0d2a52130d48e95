// Stands in for a real database pool (pg.Pool, mysql2, Prisma...): something that
// must stay open while requests use it and be closed once, after the last one.
export function createDatabase() {
  let open = true;
  return {
    async query(text) {
      if (!open) throw new Error('the database pool is closed');
      return { rows: [{ text }] };
    },
    async end() {
      await new Promise((resolve) => setTimeout(resolve, 50));
      open = false;
      console.log(`[worker ${process.pid}] database pool closed after the last request`);
    },
  };
}
