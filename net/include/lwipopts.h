/*
 * lwIP's configuration for Tern (docs/network.md): one stack instance, no
 * OS (NO_SYS=1), raw callback API only, every call made from the service
 * loop of the boot CPU (net_poll and console commands), so no locking.
 * IPv4 over Ethernet with ARP, ICMP, DHCP (UDP) and TCP; no IPv6, DNS,
 * IGMP, IP fragments. All memory is lwIP's own static heap and pools: a
 * flood from the network can exhaust lwIP's memory, never Tern's heap.
 */
#ifndef TERN_LWIPOPTS_H
#define TERN_LWIPOPTS_H

/* ---- system ---- */
#define NO_SYS 1
#define SYS_LIGHTWEIGHT_PROT 0 /* one CPU, no interrupt handler touches lwIP */
#define LWIP_SOCKET 0
#define LWIP_NETCONN 0
#define LWIP_NETIF_API 0
#define LWIP_TIMERS 1 /* sys_check_timeouts() from net_poll() */

/*
 * Memory. MEM_LIBC_MALLOC 0: lwIP's own heap (mem.c) in .bss rather than
 * newlib's malloc, so the memory the network may consume is bounded and
 * separate from the 16 MiB heap the VM and the console need, and a failed
 * allocation is lwIP's ordinary ERR_MEM path (counted in `info network`).
 * The heap holds transmitted TCP data (tcp_write copies) and ARP queues.
 */
#define MEM_LIBC_MALLOC 0
#define MEMP_MEM_MALLOC 0
#define MEM_ALIGNMENT 8
#define MEM_SIZE (512 * 1024)
#define MEMP_NUM_PBUF 32
#define MEMP_NUM_RAW_PCB 2
#define MEMP_NUM_UDP_PCB 4
/* sink (4) + net_send (1) + network console, plus connections in TIME_WAIT */
#define MEMP_NUM_TCP_PCB 16
#define MEMP_NUM_TCP_PCB_LISTEN 4
#define MEMP_NUM_TCP_SEG 192
#define MEMP_NUM_ARP_QUEUE 16
/* lwIP's own timers plus room for the users of sys_timeout() (ping, netcon). */
#define MEMP_NUM_SYS_TIMEOUT (LWIP_NUM_SYS_TIMEOUT_INTERNAL + 8)
/* Received frames: one pool buffer holds a whole frame (VLAN-tagged too). */
#define PBUF_POOL_SIZE 96
#define PBUF_POOL_BUFSIZE 1536

/* ---- link layer ---- */
#define LWIP_ARP 1
#define ARP_TABLE_SIZE 16
#define ARP_QUEUEING 1
#define ETH_PAD_SIZE 0
#define ETHARP_SUPPORT_VLAN 0
/* Ask TCP and ICMP for one contiguous pbuf per frame: the netif then hands
 * it to the driver without copying (net/netif_nic.c). */
#define LWIP_NETIF_TX_SINGLE_PBUF 1
#define LWIP_NETIF_STATUS_CALLBACK 1
#define LWIP_NETIF_LINK_CALLBACK 1
#define LWIP_NETIF_HOSTNAME 1
#define LWIP_NETIF_LOOPBACK 0
#define LWIP_HAVE_LOOPIF 0
#define LWIP_SINGLE_NETIF 1

/* ---- IPv4 ---- */
#define LWIP_IPV4 1
#define LWIP_IPV6 0
/* No fragments either way: TCP's MSS avoids them, and reassembly buffers
 * are memory a hostile sender could pin. */
#define IP_REASSEMBLY 0
#define IP_FRAG 0
#define IP_FORWARD 0
#define IP_SOF_BROADCAST 1
#define IP_SOF_BROADCAST_RECV 1
#define LWIP_ICMP 1
#define LWIP_BROADCAST_PING 0
#define LWIP_MULTICAST_PING 0
#define LWIP_RAW 1 /* the ping client (net/ping.c) */
#define LWIP_IGMP 0
#define LWIP_AUTOIP 0
#define LWIP_DNS 0

/* ---- UDP and DHCP ---- */
#define LWIP_UDP 1
#define LWIP_DHCP 1
#define DHCP_DOES_ARP_CHECK 1

/* ---- TCP ---- */
#define LWIP_TCP 1
#define TCP_MSS 1460
/* Windows stay below 64 KiB: no window scaling needed. */
#define TCP_WND (32 * TCP_MSS)
#define TCP_SND_BUF (32 * TCP_MSS)
#define TCP_SND_QUEUELEN (4 * TCP_SND_BUF / TCP_MSS)
#define TCP_SNDLOWAT (TCP_SND_BUF / 2)
#define TCP_QUEUE_OOSEQ 1
/* Out-of-order data a peer can park per connection (pool buffers). */
#define TCP_OOSEQ_MAX_PBUFS 24
#define TCP_LISTEN_BACKLOG 1
#define TCP_DEFAULT_LISTEN_BACKLOG 4
#define LWIP_TCP_TIMESTAMPS 0
#define LWIP_TCP_KEEPALIVE 1
#define LWIP_ALTCP 0
#define LWIP_CALLBACK_API 1

/* ---- checksums: generated in software, always checked (frames come from
 * outside and the e1000 offloads are not used) ---- */
#define LWIP_CHKSUM_ALGORITHM 3
#define CHECKSUM_GEN_IP 1
#define CHECKSUM_GEN_UDP 1
#define CHECKSUM_GEN_TCP 1
#define CHECKSUM_GEN_ICMP 1
#define CHECKSUM_CHECK_IP 1
#define CHECKSUM_CHECK_UDP 1
#define CHECKSUM_CHECK_TCP 1
#define CHECKSUM_CHECK_ICMP 1

/* ---- statistics for `info network`; no SNMP ---- */
#define LWIP_STATS 1
#define LWIP_STATS_DISPLAY 0
#define LWIP_STATS_LARGE 1 /* 32-bit counters: 16-bit ones wrap in seconds */
#define LINK_STATS 1
#define ETHARP_STATS 1
#define IP_STATS 1
#define ICMP_STATS 1
#define UDP_STATS 1
#define TCP_STATS 1
#define MEM_STATS 1
#define MEMP_STATS 1
#define SYS_STATS 0
#define MIB2_STATS 0
#define LWIP_SNMP 0

/* ---- hooks (net/include/lwip_hooks.h): RFC 6528 initial sequence numbers,
   and a sequence-number check lwIP lacks (net/tcp_guard.c) ---- */
#define LWIP_HOOK_FILENAME "lwip_hooks.h"
#define LWIP_HOOK_TCP_ISN(lip, lport, rip, rport) net_tcp_isn(lip, lport, rip, rport)
#define LWIP_HOOK_TCP_INPACKET_PCB(pcb, hdr, optlen, opt1len, opt2, p) net_tcp_inpacket(pcb, hdr)

#endif
