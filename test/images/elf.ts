// The section names of an ELF64 little-endian file (x86-64, arm64), read from its section header
// table: what `readelf -S` lists, without needing binutils on the test machine.
import { open } from 'node:fs/promises';

export async function elfSections(path: string): Promise<string[]> {
  const file = await open(path, 'r');
  try {
    const read = async (offset: number, length: number): Promise<Buffer> => {
      const buf = Buffer.alloc(length);
      const { bytesRead } = await file.read(buf, 0, length, offset);
      if (bytesRead !== length) throw new Error(`${path}: truncated ELF file`);
      return buf;
    };
    const header = await read(0, 64);
    if (header.readUInt32BE(0) !== 0x7f454c46) throw new Error(`${path}: not an ELF file`);
    if (header[4] !== 2 || header[5] !== 1) throw new Error(`${path}: not ELF64 little-endian`);
    const shoff = Number(header.readBigUInt64LE(0x28));
    const shentsize = header.readUInt16LE(0x3a);
    const shnum = header.readUInt16LE(0x3c);
    const shstrndx = header.readUInt16LE(0x3e);
    const table = await read(shoff, shentsize * shnum);
    const entry = (i: number): { name: number; offset: number; size: number } => ({
      name: table.readUInt32LE(i * shentsize),
      offset: Number(table.readBigUInt64LE(i * shentsize + 0x18)),
      size: Number(table.readBigUInt64LE(i * shentsize + 0x20)),
    });
    const strtab = entry(shstrndx);
    const names = await read(strtab.offset, strtab.size);
    return Array.from({ length: shnum }, (_, i) => {
      const start = entry(i).name;
      return names.toString('latin1', start, names.indexOf(0, start));
    }).filter((name) => name !== '');
  } finally {
    await file.close();
  }
}
