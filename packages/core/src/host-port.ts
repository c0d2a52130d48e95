/** `host:port` as a URL or a Host header writes it: an IPv6 address in brackets (`[::1]:3000`). */
export function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}
