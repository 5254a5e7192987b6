/*
 * Register offsets and bits of the Intel 8254x gigabit controllers (82540EM,
 * 82545EM) that Tern's e1000 driver uses, from the "PCI/PCI-X Family of
 * Gigabit Ethernet Controllers Software Developer's Manual" (Intel 317453),
 * section 13 (registers) and 3.2/3.3 (legacy descriptors). Only what the
 * driver touches is here; offsets are bytes into BAR0.
 */
#ifndef E1000_REGS_H
#define E1000_REGS_H

/* ---- general (13.4.1 - 13.4.6) ---- */
#define E1000_CTRL 0x0000
#define E1000_STATUS 0x0008
#define E1000_EERD 0x0014
#define E1000_FCAL 0x0028
#define E1000_FCAH 0x002c
#define E1000_FCT 0x0030
#define E1000_FCTTV 0x0170

#define E1000_CTRL_LRST (1u << 3)
#define E1000_CTRL_ASDE (1u << 5)
#define E1000_CTRL_SLU (1u << 6)
#define E1000_CTRL_ILOS (1u << 7)
#define E1000_CTRL_RST (1u << 26)
#define E1000_CTRL_VME (1u << 30)
#define E1000_CTRL_PHY_RST (1u << 31)

#define E1000_STATUS_FD (1u << 0)
#define E1000_STATUS_LU (1u << 1)

/* EEPROM read (13.4.4), 82540/82545 layout: the 8254[17] move these bits. */
#define E1000_EERD_START (1u << 0)
#define E1000_EERD_DONE (1u << 4)
#define E1000_EERD_ADDR_SHIFT 8
#define E1000_EERD_DATA_SHIFT 16

/* ---- interrupts (13.4.17 - 13.4.21): Tern polls, all stay masked ---- */
#define E1000_ICR 0x00c0
#define E1000_IMC 0x00d8

/* ---- receive (13.4.22 - 13.4.33) ---- */
#define E1000_RCTL 0x0100
#define E1000_RDBAL 0x2800
#define E1000_RDBAH 0x2804
#define E1000_RDLEN 0x2808
#define E1000_RDH 0x2810
#define E1000_RDT 0x2818
#define E1000_RDTR 0x2820
#define E1000_RADV 0x282c
#define E1000_RXCSUM 0x5000
#define E1000_MTA 0x5200 /* 128 dwords of multicast hash */
#define E1000_MTA_WORDS 128
#define E1000_RAL0 0x5400
#define E1000_RAH0 0x5404
#define E1000_RAH_AV (1u << 31)

#define E1000_RCTL_EN (1u << 1)
#define E1000_RCTL_SBP (1u << 2)
#define E1000_RCTL_UPE (1u << 3)
#define E1000_RCTL_MPE (1u << 4)
#define E1000_RCTL_LPE (1u << 5)
#define E1000_RCTL_BAM (1u << 15)
#define E1000_RCTL_BSIZE_2048 (0u << 16) /* with BSEX clear */
#define E1000_RCTL_SECRC (1u << 26)

/* ---- transmit (13.4.34 - 13.4.44) ---- */
#define E1000_TCTL 0x0400
#define E1000_TIPG 0x0410
#define E1000_TDBAL 0x3800
#define E1000_TDBAH 0x3804
#define E1000_TDLEN 0x3808
#define E1000_TDH 0x3810
#define E1000_TDT 0x3818
#define E1000_TIDV 0x3820

#define E1000_TCTL_EN (1u << 1)
#define E1000_TCTL_PSP (1u << 3)
#define E1000_TCTL_CT_SHIFT 4
#define E1000_TCTL_COLD_SHIFT 12
/* 15 retries, and the collision distance for full duplex (13.4.33). */
#define E1000_TCTL_CT_DEFAULT 0x0f
#define E1000_TCTL_COLD_FD 0x40
/* IPGT 10, IPGR1 8, IPGR2 6: the values 13.4.34 gives for copper 8254x. */
#define E1000_TIPG_COPPER (10u | (8u << 10) | (6u << 20))

#endif
