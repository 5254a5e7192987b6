#!/usr/bin/env bash
# mkesp.sh OUT EFI_FILE GUEST_FILE CMDLINE [LINUX_DIR KERNEL_CMDLINE]
#
# Builds a bootable UEFI disk image without root or loop devices: an MBR with
# one EFI System partition (type 0xEF) starting at 1 MiB, formatted FAT with
# mtools, holding EFI/BOOT/BOOTX64.EFI (the Tern loader), /guest.elf (skipped
# when GUEST_FILE is "") and /tern.cfg (the one-line command line). With
# LINUX_DIR it also holds the stock Linux guest (docs/boot-uefi.md):
# /linux/vmlinuz and /linux/initrd.img from LINUX_DIR, and /linux/cmdline, the
# kernel's command line; `guest=linux` in tern.cfg boots them. The image is
# whole cylinders of 16 heads x 63 sectors, 33 (about 16 MiB) or as many
# more as the files need, so Bochs accepts it as a flat ATA disk with that
# geometry; QEMU and OVMF take it as a raw disk.
set -euo pipefail

if [ $# -ne 4 ] && [ $# -ne 6 ]; then
	echo "usage: $0 OUT EFI_FILE GUEST_FILE CMDLINE [LINUX_DIR KERNEL_CMDLINE]" >&2
	exit 2
fi
out=$1 efi=$2 guest=$3 cmdline=$4 linux=${5:-} kcmdline=${6:-}

[ -f "$efi" ] || { echo "mkesp: no EFI file $efi" >&2; exit 1; }
[ -z "$guest" ] || [ -f "$guest" ] || { echo "mkesp: no guest file $guest" >&2; exit 1; }
files=("$efi")
[ -z "$guest" ] || files+=("$guest")
if [ -n "$linux" ]; then
	for f in vmlinuz initrd.img; do
		[ -f "$linux/$f" ] || { echo "mkesp: no $linux/$f (make linux-guest)" >&2; exit 1; }
		files+=("$linux/$f")
	done
fi

# 33 cylinders, or enough for the files plus a quarter (FAT, clusters) and 2 MiB.
heads=16 spt=63 cyl_bytes=$((16 * 63 * 512))
need=$(( $(cat "${files[@]}" | wc -c) * 5 / 4 + (2 << 20) ))
cyls=$(( (need + cyl_bytes - 1) / cyl_bytes ))
[ $cyls -ge 33 ] || cyls=33
total=$((cyls * heads * spt))   # sectors in the image
start=2048                      # partition at 1 MiB
count=$((total - start))

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
img=$tmp/esp.img

truncate -s $((total * 512)) "$img"

# Bytes of a little-endian 32-bit value and of a CHS triple, as printf escapes.
le32() { printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 & 255)) $(($1 >> 8 & 255)) \
	$(($1 >> 16 & 255)) $(($1 >> 24 & 255)); }
chs() {
	local c=$(($1 / (heads * spt))) h=$(($1 / spt % heads)) s=$(($1 % spt + 1))
	printf '\\x%02x\\x%02x\\x%02x' $h $((s | (c >> 8) << 6)) $((c & 255))
}
entry="\\x80$(chs $start)\\xef$(chs $((total - 1)))$(le32 $start)$(le32 $count)"
printf "$(le32 0x5445524e)" | dd of="$img" bs=1 seek=440 conv=notrunc status=none
printf "$entry" | dd of="$img" bs=1 seek=446 conv=notrunc status=none
printf '\x55\xaa' | dd of="$img" bs=1 seek=510 conv=notrunc status=none

part="$img@@$((start * 512))"
export MTOOLS_SKIP_CHECK=1
mformat -i "$part" -T $count -h $heads -s $spt -H $start -v TERN ::
mmd -i "$part" ::/EFI ::/EFI/BOOT
mcopy -i "$part" "$efi" ::/EFI/BOOT/BOOTX64.EFI
[ -z "$guest" ] || mcopy -i "$part" "$guest" ::/guest.elf
printf '%s\n' "$cmdline" > "$tmp/tern.cfg"
mcopy -i "$part" "$tmp/tern.cfg" ::/tern.cfg
if [ -n "$linux" ]; then
	mmd -i "$part" ::/linux
	mcopy -i "$part" "$linux/vmlinuz" ::/linux/vmlinuz
	mcopy -i "$part" "$linux/initrd.img" ::/linux/initrd.img
	printf '%s\n' "$kcmdline" > "$tmp/cmdline"
	mcopy -i "$part" "$tmp/cmdline" ::/linux/cmdline
fi

mkdir -p "$(dirname "$out")"
mv "$img" "$out"
