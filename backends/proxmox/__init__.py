"""Proxmox VE clusters through the bridged `proxmoxve` provider (bpg/terraform-provider-proxmox)."""
