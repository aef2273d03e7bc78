// The commands people copy: `docker pull <host>/<name>:<tag>` and `…@<digest>`, where the host is
// the one the browser reached Berth at (location.host), as docker names registries.

export const pullReference = (host: string, name: string, reference: string): string =>
  `${host}/${name}${reference.includes(':') ? '@' : ':'}${reference}`;

export const pullCommand = (host: string, name: string, reference: string): string =>
  `docker pull ${pullReference(host, name, reference)}`;
