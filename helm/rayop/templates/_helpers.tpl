{{- define "rayop.name" -}}rayop{{- end -}}

{{- define "rayop.fullname" -}}{{ .Release.Name }}-rayop{{- end -}}

{{- define "rayop.serviceAccountName" -}}
{{- if .Values.serviceAccount.name -}}{{ .Values.serviceAccount.name }}{{- else -}}{{ include "rayop.fullname" . }}{{- end -}}
{{- end -}}

{{- define "rayop.leaseName" -}}
{{ .Values.leaderElection.leaseName | default (printf "%s-leader" (include "rayop.fullname" .)) }}
{{- end -}}

{{- define "rayop.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "rayop.selectorLabels" -}}
app.kubernetes.io/name: rayop
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "rayop.labels" -}}
app.kubernetes.io/name: rayop
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}

{{/*
The namespaces the operator serves, as a JSON list: watchNamespace, or in namespaced mode with none given the
release's own namespace (KubeRay's singleNamespaceInstall). Namespaced mode grants Roles only, so every watched
namespace must be a plain name, and (until the operator keeps one informer per namespace) exactly one: with several,
the operator watches cluster-wide and filters, which a Role cannot allow.
*/}}
{{- define "rayop.watchNamespaces" -}}
{{- $ns := .Values.watchNamespace | default list -}}
{{- if and .Values.singleNamespaceInstall (not $ns) -}}{{- $ns = list .Release.Namespace -}}{{- end -}}
{{- if .Values.singleNamespaceInstall -}}
{{- if gt (len $ns) 1 -}}
{{- fail "singleNamespaceInstall: rayop serves one namespace per release in namespaced mode; install one release per namespace" -}}
{{- end -}}
{{- range $ns -}}
{{- if regexMatch "[*?\\[]" . -}}{{- fail (printf "singleNamespaceInstall: watchNamespace %q is a glob; namespaced mode needs plain names" .) -}}{{- end -}}
{{- end -}}
{{- end -}}
{{- $ns | toJson -}}
{{- end -}}

{{/* Everything the operator does, for every kind it serves (a ClusterRole's or a namespaced Role's rules). */}}
{{- define "rayop.rules" -}}
# RayCluster, RayJob, RayService.
- apiGroups: [ray.io]
  resources: [rayclusters, rayjobs, rayservices]
  verbs: [get, list, watch, create, delete, patch, update]
- apiGroups: [ray.io]
  resources: [rayclusters/status, rayjobs/status, rayservices/status]
  verbs: [get, patch, update]
- apiGroups: [ray.io]
  resources: [rayclusters/finalizers, rayjobs/finalizers, rayservices/finalizers]
  verbs: [update]
{{- if .Values.kubeflow.enabled }}
# Kubeflow training jobs (kubeflow.org/v1).
- apiGroups: [kubeflow.org]
  resources: [tfjobs, pytorchjobs, mpijobs, xgboostjobs]
  verbs: [get, list, watch, create, delete, patch, update]
- apiGroups: [kubeflow.org]
  resources: [tfjobs/status, pytorchjobs/status, mpijobs/status, xgboostjobs/status]
  verbs: [get, patch, update]
- apiGroups: [kubeflow.org]
  resources: [tfjobs/finalizers, pytorchjobs/finalizers, mpijobs/finalizers, xgboostjobs/finalizers]
  verbs: [update]
# Elastic PyTorchJobs' HorizontalPodAutoscalers.
- apiGroups: [autoscaling]
  resources: [horizontalpodautoscalers]
  verbs: [get, list, watch, create, delete, patch, update]
{{- end }}
# Pods and Services of every kind; Secrets (auth tokens, MPI keys); ServiceAccounts (autoscaler);
# ConfigMaps (MPI hostfiles, serve configs).
- apiGroups: [""]
  resources: [pods, services, secrets, serviceaccounts, configmaps]
  verbs: [get, list, watch, create, delete, patch, update]
- apiGroups: [""]
  resources: [pods/resize]
  verbs: [patch]
- apiGroups: [""]
  resources: [endpoints]
  verbs: [get, list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [get, list, watch]
# RayJob's submitter (K8sJobMode) and Kubeflow launchers.
- apiGroups: [batch]
  resources: [jobs]
  verbs: [get, list, watch, create, delete, patch, update]
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
# The autoscaler sidecar's Role is created per cluster; granting it requires holding its verbs.
- apiGroups: [rbac.authorization.k8s.io]
  resources: [roles, rolebindings]
  verbs: [get, list, watch, create, delete, patch, update]
- apiGroups: [networking.k8s.io]
  resources: [ingresses]
  verbs: [get, list, watch, create, delete, patch, update]
{{- end -}}
