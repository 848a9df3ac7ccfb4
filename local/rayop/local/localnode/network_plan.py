"""The fixed network plan shared by the local node agent and the control plane harness.

Every address the local nodes use lives here: the host bridge, the pod range (one /24 per local node), the Service
range given to kube-apiserver and the cluster DNS.  Nothing outside these ranges (and loopback) is ever addressed.
"""

from __future__ import annotations

import ipaddress

#: Host bridge every pod's veth is attached to.
BRIDGE_NAME = "rayop0"
#: The bridge's address: the pods' default gateway and the address the API server advertises.
GATEWAY_IP = "10.233.0.1"
#: Prefix of the whole pod network (pods on one bridge are on-link to each other).
POD_NETWORK = "10.233.0.0/16"
POD_PREFIX_LEN = 16
#: kube-apiserver --service-cluster-ip-range.
SERVICE_CIDR = "10.96.0.0/16"
#: ClusterIP of the ``default/kubernetes`` Service (first address of the Service range).
KUBERNETES_SERVICE_IP = "10.96.0.1"
#: ClusterIP of ``kube-system/kube-dns``; pods' resolv.conf points here.
CLUSTER_DNS_IP = "10.96.0.10"
CLUSTER_DOMAIN = "cluster.local"
#: Where the cluster DNS server really listens (the kube-dns Service's endpoint).
DNS_LISTEN_IP = GATEWAY_IP
DNS_PORT = 53
#: Port of the kubelet-like endpoint (container logs) on GATEWAY_IP, the nodes' InternalIP.
KUBELET_PORT = 10250

#: Prefix of every network namespace, veth and cgroup the agent creates (leftovers are found by it).
NETNS_PREFIX = "rayop-"
VETH_PREFIX = "rv"


def node_pod_cidr(index: int) -> str:
    """The pod range of local node ``index`` (0-based): node k gets 10.233.(k+1).0/24."""
    if not 0 <= index < 254:
        raise ValueError(f"local node index {index} out of range 0..253")
    return f"10.233.{index + 1}.0/24"


def in_pod_network(ip: str) -> bool:
    return ipaddress.ip_address(ip) in ipaddress.ip_network(POD_NETWORK)
