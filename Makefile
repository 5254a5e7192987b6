# Tern: one non-recursive Makefile.
#   make          build/tern.elf, build/tern.efi, build/tern.iso, build/esp.img, build/esp-linux.img, guests
#   make run      boot Tern with the demo guest in Bochs, console on this terminal
#                 (GUEST=linux: with the stock Debian Linux guest instead)
#   make test     host unit tests, fuzz smoke, guest tests on Bochs and QEMU
#   make bench    figures (exits, instruction counts, sizes); no pass/fail
#   make mutate   break the code on purpose (tests/mutate/mutations.txt): every test must notice
# Missing Debian packages are installed by scripts/install-deps.sh on first use.

BUILD      := build
CC         := gcc
LD         := ld
OBJCOPY    := objcopy
HOSTCC     := gcc
PYTHON     := python3

NEWLIB     := $(BUILD)/newlib/x86_64-elf
DEPS_STAMP := $(BUILD)/.deps-ok

# Compiler and linker lines show as one short line each; `make V=1` shows them whole.
Q := $(if $(V),,@)
show = $(if $(V),,@printf '  %-7s %s\n' $(1) $(2))

WARN := -Wall -Wextra -Werror -Wshadow -Wmissing-prototypes -Wstrict-prototypes \
        -Wno-unused-parameter

# The hypervisor: ring 0, higher half, no red zone, no canary, no SSE in our
# own code (newlib may use SSE; the host enables it and guest state is saved).
HV_CFLAGS := -std=gnu11 -O2 -g -ffreestanding -fno-pic -fno-pie -mno-red-zone \
        -mcmodel=kernel -fno-stack-protector -fno-omit-frame-pointer \
        -mgeneral-regs-only -fno-builtin-printf $(WARN) \
        -nostdinc -isystem $(NEWLIB)/include -isystem $(shell $(CC) -print-file-name=include) \
        -Iinclude -Iarch/x86_64 -D_LIBC_LIMITS_H_ -MMD -MP \
        -Inet/include -I$(BUILD)/lwip/src/include -I$(BUILD)/mbedtls/include -Inet/mbedtls
HV_ASFLAGS := -D__ASSEMBLER__ -Iinclude -Iarch/x86_64 -MMD -MP
HV_LDFLAGS := -nostdlib -static -z max-page-size=0x1000 -z noexecstack --no-warn-rwx-segments -T linker.ld

HV_SRCS := $(wildcard boot/*.c boot/mb2/*.S boot/mb2/*.c arch/x86_64/*.S arch/x86_64/*.c \
                      hv/*.c drivers/*.c lib/*.c net/*.c migrate/*.c)
HV_OBJS := $(patsubst %,$(BUILD)/hv/%.o,$(HV_SRCS))
LIBGCC  := $(shell $(CC) -print-libgcc-file-name)

# Sources that are pure logic and also build on the host for unit tests.
PURE_SRCS := $(wildcard lib/*.c) boot/efi/memmap.c hv/console_cmd.c hv/dirty_mode.c hv/pmm.c hv/vuart.c hv/elf_load.c \
             hv/linux_boot.c hv/vacpi.c hv/vlapic.c \
             hv/cmdline.c arch/x86_64/vmx_ctl.c arch/x86_64/guest_walk.c boot/mb2/mb2_parse.c net/tcp_pattern.c drivers/pci.c drivers/e1000_ring.c \
             guest-tests/lib/dirty_verdict.c \
             $(wildcard migrate/stream.c migrate/policy.c migrate/status.c arch/x86_64/vcpu_state_check.c \
                        migrate/prepage.c migrate/latency.c migrate/pagemap.c guest-tests/lib/mig_pattern.c)

.PHONY: all run run-migrate test unit-test guest-test bench fuzz clean deps newlib
all: $(BUILD)/tern.elf $(BUILD)/tern.efi $(BUILD)/tern.iso $(BUILD)/esp.img $(BUILD)/esp-linux.img guests

deps: $(DEPS_STAMP)
$(DEPS_STAMP): scripts/install-deps.sh
	bash scripts/install-deps.sh
	@mkdir -p $(BUILD) && touch $@

newlib: $(NEWLIB)/lib/libc.a
$(NEWLIB)/lib/libc.a: scripts/build-newlib.sh | $(DEPS_STAMP)
	bash scripts/build-newlib.sh $(BUILD)/newlib

# ---- third-party libraries, built from Debian's source packages (never vendored) ----
LWIP_LIB    := $(BUILD)/lwip/liblwip.a
MBEDTLS_LIB := $(BUILD)/mbedtls/libmbedcrypto-tern.a
$(LWIP_LIB): scripts/build-lwip.sh $(wildcard net/include/*.h net/include/arch/*.h) | $(NEWLIB)/lib/libc.a
	$(Q)bash scripts/build-lwip.sh $(BUILD)/lwip "$(HV_CFLAGS)"
$(MBEDTLS_LIB): scripts/build-mbedtls.sh $(wildcard net/mbedtls/*.h) | $(NEWLIB)/lib/libc.a
	$(Q)bash scripts/build-mbedtls.sh $(BUILD)/mbedtls "$(HV_CFLAGS)"
# Each library joins the build once its build script is in the tree.
THIRD_PARTY := $(if $(wildcard scripts/build-lwip.sh),$(LWIP_LIB)) \
               $(if $(wildcard scripts/build-mbedtls.sh),$(MBEDTLS_LIB))

$(BUILD)/hv/%.c.o: %.c | $(NEWLIB)/lib/libc.a $(THIRD_PARTY)
	@mkdir -p $(dir $@)
	$(call show,CC,$<)
	$(Q)$(CC) $(HV_CFLAGS) -c $< -o $@
$(BUILD)/hv/%.S.o: %.S | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(call show,AS,$<)
	$(Q)$(CC) $(HV_ASFLAGS) -c $< -o $@

$(BUILD)/tern.elf: $(HV_OBJS) linker.ld $(NEWLIB)/lib/libc.a $(THIRD_PARTY)
	$(call show,LD,$@)
	$(Q)$(LD) $(HV_LDFLAGS) -o $@ $(HV_OBJS) --start-group $(filter %.a,$(THIRD_PARTY)) \
	    $(NEWLIB)/lib/libc.a $(LIBGCC) --end-group
	$(Q)grub-file --is-x86-multiboot2 $@

# ---- UEFI loader: a gnu-efi application that carries tern.elf inside ----
EFI_CFLAGS := -std=gnu11 -O2 -fpic -ffreestanding -fno-stack-protector -fshort-wchar \
        -mno-red-zone -maccumulate-outgoing-args -DGNU_EFI_USE_MS_ABI $(WARN) \
        -Wno-missing-prototypes -Wno-strict-prototypes -Wno-sign-compare \
        -I/usr/include/efi -I/usr/include/efi/x86_64 -I/usr/include/efi/protocol -Iinclude -MMD -MP
EFI_SRCS := $(wildcard boot/efi/*.c boot/efi/*.S)
EFI_OBJS := $(patsubst %,$(BUILD)/efi/%.o,$(EFI_SRCS)) $(BUILD)/efi/payload.o

$(BUILD)/efi/%.c.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(call show,CC,$<)
	$(Q)$(CC) $(EFI_CFLAGS) -c $< -o $@
$(BUILD)/efi/%.S.o: %.S | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(call show,AS,$<)
	$(Q)$(CC) $(EFI_CFLAGS) -D__ASSEMBLER__ -c $< -o $@
# tern.elf and the demo guest ride inside the loader as read-only blobs.
$(BUILD)/efi/payload.o: boot/efi/payload.S $(BUILD)/tern.elf $(BUILD)/guests/demo.elf
	@mkdir -p $(dir $@)
	$(call show,GEN,$@)
	$(Q)$(CC) -c -DTERN_ELF='"$(BUILD)/tern.elf"' -DDEMO_ELF='"$(BUILD)/guests/demo.elf"' $< -o $@
$(BUILD)/tern-efi.so: $(filter-out $(BUILD)/efi/boot/efi/payload.S.o,$(EFI_OBJS))
	$(call show,LD,$@)
	$(Q)$(LD) -nostdlib -znocombreloc -shared -Bsymbolic --no-undefined -T /usr/lib/elf_x86_64_efi.lds \
	    /usr/lib/crt0-efi-x86_64.o $^ -L/usr/lib -lefi -lgnuefi -o $@
$(BUILD)/tern.efi: $(BUILD)/tern-efi.so
	$(call show,OBJCOPY,$@)
	$(Q)$(OBJCOPY) -j .text -j .sdata -j .data -j .dynamic -j .dynsym -j .rel -j .rela \
	    -j .rel.* -j .rela.* -j .reloc --target efi-app-x86_64 --subsystem=10 $< $@

# ---- guests: tiny 64-bit programs that run inside a VM under Tern ----
GUEST_CFLAGS := -std=gnu11 -O2 -g -ffreestanding -fno-pic -fno-pie -mno-red-zone \
        -fno-stack-protector -mgeneral-regs-only $(WARN) -Iinclude -Iguest-tests/lib -MMD -MP
GUEST_LIB  := $(patsubst %,$(BUILD)/guests/%.o,$(wildcard guest-tests/lib/*.c guest-tests/lib/*.S))
GUEST_NAMES := $(basename $(notdir $(wildcard guest-tests/*.c)))
GUEST_ELFS := $(patsubst %,$(BUILD)/guests/%.elf,$(GUEST_NAMES))
.PHONY: guests
guests: $(GUEST_ELFS)
$(BUILD)/guests/%.c.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(call show,CC,$<)
	$(Q)$(CC) $(GUEST_CFLAGS) -c $< -o $@
$(BUILD)/guests/%.S.o: %.S | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(call show,AS,$<)
	$(Q)$(CC) -D__ASSEMBLER__ -Iinclude -Iguest-tests/lib -c $< -o $@
$(BUILD)/guests/%.elf: $(BUILD)/guests/guest-tests/%.c.o $(GUEST_LIB) guest-tests/lib/guest.ld
	$(call show,LD,$@)
	$(Q)$(LD) -nostdlib -static -z max-page-size=0x1000 -T guest-tests/lib/guest.ld -o $@ $(GUEST_LIB) $< $(LIBGCC)

# ---- the stock Debian Linux guest (docs/linux-guest.md) ----
# The kernel is Debian 12's own package, fetched with apt (never in git); the
# initramfs is built reproducibly from busybox-static, guest-linux/init and
# guest-linux/memstress.c. fetch-linux.sh leaves an up-to-date kernel alone,
# so the touch keeps make from asking apt again after the script changes.
# `make linux-guest-check`: host-side checks of memstress and the initramfs
# (reproducible, its contents), no emulator, a few seconds.
LINUX_KERNEL := $(BUILD)/linux/vmlinuz
LINUX_INITRD := $(BUILD)/linux/initrd.img
LINUX_INITRD_SRCS := guest-linux/init guest-linux/shrc guest-linux/memstress.c
.PHONY: linux-guest linux-guest-check
linux-guest: $(LINUX_KERNEL) $(LINUX_INITRD)
$(LINUX_KERNEL): scripts/fetch-linux.sh | $(DEPS_STAMP)
	$(Q)bash scripts/fetch-linux.sh $(BUILD)/linux
	$(Q)touch $@
$(LINUX_INITRD): scripts/build-initramfs.sh $(LINUX_INITRD_SRCS) | $(DEPS_STAMP)
	$(Q)bash scripts/build-initramfs.sh $(BUILD)/linux
linux-guest-check: | $(DEPS_STAMP)
	$(PYTHON) guest-linux/check.py

# ---- boot media ----
$(BUILD)/tern.iso: $(BUILD)/tern.elf $(BUILD)/tern.efi guests scripts/mkiso.sh $(LINUX_KERNEL) $(LINUX_INITRD)
	$(Q)bash scripts/mkiso.sh $@ $(BUILD)
# Both ESP images carry the demo guest and the Linux guest's files (/linux/,
# docs/boot-uefi.md); their tern.cfg picks one: esp.img the demo,
# esp-linux.img Linux. The kernel's command line is the ISO's tern-linux one.
ESP_LINUX_CMDLINE := console=ttyS0,115200 nokaslr pci=off tsc=reliable 8250.nr_uarts=1 panic=-1 noapic reboot=acpi rdinit=/init quiet
ESP_DEPS := $(BUILD)/tern.efi $(BUILD)/guests/demo.elf scripts/mkesp.sh $(LINUX_KERNEL) $(LINUX_INITRD)
$(BUILD)/esp.img: $(ESP_DEPS)
	$(Q)bash scripts/mkesp.sh $@ $(BUILD)/tern.efi $(BUILD)/guests/demo.elf "guest=guest.elf" $(BUILD)/linux "$(ESP_LINUX_CMDLINE)"
$(BUILD)/esp-linux.img: $(ESP_DEPS)
	$(Q)bash scripts/mkesp.sh $@ $(BUILD)/tern.efi $(BUILD)/guests/demo.elf "guest=linux mem=256M" $(BUILD)/linux "$(ESP_LINUX_CMDLINE)"

# `make run GUEST=NAME` boots the ISO's entry tern-NAME instead of the menu's
# default (the demo); GUEST=linux boots the stock Debian kernel (its guest
# has 256 MiB, so the emulated machine gets more).
RUN_ARGS_linux := --megs 512
run: all
	$(PYTHON) tests/harness/run_demo.py --build $(BUILD)$(if $(GUEST), --entry tern-$(GUEST) $(RUN_ARGS_$(GUEST)))

# Two Terns in Bochs joined by bxhub: watch mig_verify move A -> B, then B's console.
run-migrate: all
	$(PYTHON) tests/harness/run_migrate.py --build $(BUILD)

# ---- ternctl: the operator's client for the network console (host program) ----
# One object per source, each with its dependency file (-MMD -MP).
TERNCTL_OBJS := $(patsubst %.c,$(BUILD)/ternctl-obj/%.o,$(wildcard tools/ternctl/*.c))
$(BUILD)/ternctl-obj/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(call show,HOSTCC,$<)
	$(Q)$(HOSTCC) -std=gnu11 -O2 -g $(WARN) -MMD -MP -c $< -o $@
$(BUILD)/ternctl: $(TERNCTL_OBJS)
	$(call show,LINK,$@)
	$(Q)$(HOSTCC) -o $@ $^ -lmbedtls -lmbedx509 -lmbedcrypto
ifneq ($(wildcard tools/ternctl/*.c),)
all: $(BUILD)/ternctl
endif

# ---- host unit tests (ASan + UBSan) ----
UNIT_CFLAGS := -std=gnu11 -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all \
        -fno-omit-frame-pointer $(WARN) -Wno-missing-prototypes -Iinclude -Iarch/x86_64 \
        -Itests/unit -DTERN_HOST_TEST
UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/unit/%,$(wildcard tests/unit/test_*.c))
# One object per source with its own dependency file (-MMD -MP), so a changed
# header or a .c file that a test #includes rebuilds exactly the tests that
# use it; the pure sources are compiled once for all the tests.
UNIT_OBJS := $(patsubst %.c,$(BUILD)/unit/obj/%.o,$(PURE_SRCS))
$(BUILD)/unit/obj/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(call show,HOSTCC,$<)
	$(Q)$(HOSTCC) $(UNIT_CFLAGS) -MMD -MP -c $< -o $@
$(UNIT_TESTS): $(BUILD)/unit/%: $(BUILD)/unit/obj/tests/unit/%.o $(UNIT_OBJS)
	$(call show,LINK,$@)
	$(Q)$(HOSTCC) $(UNIT_CFLAGS) $(filter %.o,$^) -o $@ $(UNIT_LIBS_$*)
# net/tls.c on the host (test_tls): mbedTLS from the sources the hypervisor's
# build unpacked, with Tern's own configuration, so the test sees the library
# as Tern does (Debian's libmbedtls is configured differently).
HOST_MBEDTLS := $(BUILD)/unit/mbedtls/libmbedtls-host.a
HOST_MBEDTLS_INC := -I$(BUILD)/mbedtls/include -Inet/mbedtls
$(HOST_MBEDTLS): $(MBEDTLS_LIB) net/mbedtls/tern_mbedtls_config.h
	@rm -rf $(dir $@)obj && mkdir -p $(dir $@)obj
	$(call show,HOSTAR,$@)
	$(Q)ls $(BUILD)/mbedtls/src/library/*.c | xargs -P $(shell nproc) -I{} sh -c \
	    '$(HOSTCC) $(filter-out $(WARN),$(UNIT_CFLAGS)) -w $(HOST_MBEDTLS_INC) \
	     -c {} -o $(dir $@)obj/$$(basename {} .c).o'
	$(Q)rm -f $@ && ar rcs $@ $(dir $@)obj/*.o
$(BUILD)/unit/obj/tests/unit/test_tls.o: UNIT_CFLAGS += $(HOST_MBEDTLS_INC)
$(BUILD)/unit/obj/tests/unit/test_tls.o: | $(MBEDTLS_LIB)
$(BUILD)/unit/test_tls: $(HOST_MBEDTLS)
UNIT_LIBS_test_tls := $(HOST_MBEDTLS)
unit-test: $(UNIT_TESTS)
	bash tests/run-unit.sh $(UNIT_TESTS)

# ---- fuzzing on the host (libFuzzer + ASan/UBSan, clang): tests/fuzz/run.sh
# builds the targets into $(BUILD)/fuzz and runs each; make test runs the smoke ----
.PHONY: fuzz-smoke mutate
fuzz: | $(DEPS_STAMP) $(THIRD_PARTY)
	BUILD=$(BUILD) bash tests/fuzz/run.sh long
fuzz-smoke: | $(DEPS_STAMP) $(THIRD_PARTY)
	BUILD=$(BUILD) bash tests/fuzz/run.sh smoke

# ---- mutations (tests/mutate/): each listed break of the code must fail its
# test; on a scratch copy, one at a time; not part of `make test` (minutes) ----
mutate: all $(UNIT_TESTS)
	$(PYTHON) tests/mutate/mutate.py --build $(BUILD)

guest-test: all
	$(PYTHON) tests/harness/guest_tests.py --build $(BUILD)

test: | $(DEPS_STAMP)
	bash tests/run-all.sh

bench: all
	$(PYTHON) tests/harness/bench.py --build $(BUILD)

clean:
	rm -rf $(BUILD)/hv $(BUILD)/efi $(BUILD)/guests $(BUILD)/unit $(BUILD)/*.elf \
	       $(BUILD)/*.efi $(BUILD)/*.so $(BUILD)/*.iso $(BUILD)/*.img

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
