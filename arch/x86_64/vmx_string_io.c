/*
 * String port I/O (INS, OUTS, with or without REP) on behalf of the guest.
 * The exit gives the port, the element size, the direction, REP, the
 * address size and the linear address of the first element; Tern walks the
 * guest's page tables (guest_walk.c) for each byte, moves the data between
 * guest RAM and the emulated port (vm_pio), and updates RCX and RSI/RDI as
 * the CPU would, forwards or backwards by RFLAGS.DF.
 *
 * A guest page fault on the way is injected into the guest (CR2 set) with
 * the registers saying how far the instruction got, so the guest's handler
 * can fix the mapping and the instruction resumes, as on hardware. A long
 * REP is done STRING_IO_BUDGET elements per exit: the instruction is left
 * unretired with the remaining count and runs again, so one guest
 * instruction cannot hold the service loop. Bytes INS writes are marked
 * in the dirty log, as are the accessed/dirty flags the walk sets. During
 * post-copy a table or data page that has not arrived is fetched before
 * Tern touches it (vm_fetch): the instruction stops there, unretired, with
 * the registers saying how far it got, and goes on once the page is in.
 * Known limits: PAE (32-bit) walks read the PDPTEs from memory, not the
 * copies the CPU loaded with CR3; segment limits are not checked.
 */
#include <tern/vm.h>
#include "cpu.h"
#include "guest_walk.h"
#include "vmcs.h"
#include "vmx.h"

#define STRING_IO_BUDGET 4096
#define CR4_PSE (1ul << 4)
#define RFLAGS_DF (1ul << 10)
#define VEC_PF 14

static void *ram_ptr(void *ctx, u64 gpa, unsigned len)
{
	struct vm *vm = ctx;
	return gpa < vm->ram_size && len <= vm->ram_size - gpa ? vm->ram + gpa : NULL;
}

/* The walk's view of guest RAM: a table entry in a page that has not
 * arrived (post-copy) is fetched first; NULL then, with the vCPU waiting. */
static void *table_ptr(void *ctx, u64 gpa, unsigned len)
{
	struct vcpu *vcpu = ctx;
	if (!vm_fetch(vcpu, gpa, len))
		return NULL;
	return ram_ptr(vcpu->vm, gpa, len);
}

static void table_touched(void *ctx, u64 gpa)
{
	vm_mark_dirty(((struct vcpu *)ctx)->vm, gpa, 8);
}

/* Write v into a register as an instruction of this address size would. */
static u64 set_sized(u64 reg, u64 v, unsigned asz)
{
	if (asz == 2)
		return (reg & ~0xffffULL) | (v & 0xffff);
	return asz == 4 ? (u32)v : v;
}

/*
 * The instruction's address size in bytes. CPUs that report it (VMX_BASIC
 * bit 54) put it in the instruction information; without it, take the code
 * segment's default (an 0x67 prefix would then be missed).
 */
static unsigned address_size(void)
{
	if (vmx_caps.io_instr_info)
		return 2u << ((vmcs_read32(EXIT_INSTR_INFO) >> 7) & 7);
	u32 cs = vmcs_read32(GUEST_CS_AR);
	return cs & (1u << 13) ? 8 : cs & (1u << 14) ? 4 : 2; /* L, then D/B */
}

enum exit_action vmx_string_io(struct vcpu *vcpu, u16 port, unsigned size, bool in, bool rep)
{
	struct arch_vcpu *av = vcpu->arch;
	struct vm *vm = vcpu->vm;
	unsigned asz = address_size();
	u64 amask = asz == 8 ? ~0ULL : (1ULL << (asz * 8)) - 1;
	u64 *index = in ? &av->regs.rdi : &av->regs.rsi;
	u64 count = rep ? av->regs.rcx & amask : 1;
	s64 step = vmcs_read(GUEST_RFLAGS) & RFLAGS_DF ? -(s64)size : (s64)size;
	u64 cr0 = vmcs_read(GUEST_CR0), cr4 = vmcs_read(GUEST_CR4);
	struct gwalk_mode mode = {
		.paging = cr0 & CR0_PG, .pae = cr4 & CR4_PAE, .lma = vmcs_read(GUEST_EFER) & EFER_LMA,
		.pse = cr4 & CR4_PSE, .wp = cr0 & CR0_WP, .cr3 = vmcs_read(GUEST_CR3),
	};
	struct gwalk_mem mem = { table_ptr, table_touched, vcpu };
	bool user = ((vmcs_read32(GUEST_SS_AR) >> 5) & 3) == 3;
	u64 off = *index & amask;
	u64 base = vmcs_read(GUEST_LINEAR_ADDRESS) - off; /* the segment's base */
	u64 done = 0;

	for (; done < count && done < STRING_IO_BUDGET; done++) {
		u64 gpa[4];
		for (unsigned b = 0; b < size; b++) {
			u64 la = base + ((off + b) & amask);
			u32 err;
			if (!mode.lma)
				la &= 0xffffffffULL;
			enum gwalk_result r = guest_walk(&mode, &mem, la, in, user, &gpa[b], &err);
			if (vcpu_blocked(vcpu) || (r == GW_OK && !vm_fetch(vcpu, gpa[b], 1)))
				goto partial; /* a table or the byte has not arrived: on hold */
			if (r == GW_PAGE_FAULT) {
				av->regs.cr2 = la;
				vmx_inject_exception(VEC_PF, true, err);
				goto partial;
			}
			if (r != GW_OK || !ram_ptr(vm, gpa[b], 1)) {
				vm_stop_error(vm, "string I/O on port %#x: linear %#lx is %s", port, la,
					      r == GW_OK ? "outside guest memory"
							 : "mapped by page tables outside guest memory");
				return EXIT_STOP;
			}
		}
		u32 val = 0;
		if (in) {
			vm_pio(vcpu, port, size, true, &val);
			for (unsigned b = 0; b < size; b++) {
				vm->ram[gpa[b]] = (u8)(val >> (8 * b));
				vm_mark_dirty(vm, gpa[b], 1);
			}
		} else {
			for (unsigned b = 0; b < size; b++)
				val |= (u32)vm->ram[gpa[b]] << (8 * b);
			vm_pio(vcpu, port, size, false, &val);
		}
		off = (off + (u64)step) & amask;
	}
partial:
	*index = set_sized(*index, off, asz);
	if (rep)
		av->regs.rcx = set_sized(av->regs.rcx, count - done, asz);
	if (vcpu_blocked(vcpu))
		return EXIT_BLOCKED; /* the rest once the page is in */
	if (done == count)
		vmx_skip_instruction();
	return EXIT_RESUME;
}
