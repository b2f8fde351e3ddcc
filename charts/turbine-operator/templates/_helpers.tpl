{{/* The app name: app.kubernetes.io/name. */}}
{{- define "turbine-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Object names: the release name when it already says turbine-operator, else <release>-turbine-operator. */}}
{{- define "turbine-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "turbine-operator.serviceAccountName" -}}
{{- default (include "turbine-operator.fullname" .) .Values.serviceAccount.name }}
{{- end }}

{{/* Selects the operator's pod; the instance keeps two releases (shards) apart. */}}
{{- define "turbine-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "turbine-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* On every object. The first three are also what manifests/ puts on its objects. */}}
{{- define "turbine-operator.labels" -}}
{{ include "turbine-operator.selectorLabels" . }}
app.kubernetes.io/part-of: turbine-operator
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{/* The rights of `turbine-operator run`, the same in the ClusterRole and in each Role (see
manifests/base/clusterrole.yaml for why each is needed; tests/deploy/test_rbac_policy.py pins them). */}}
{{- define "turbine-operator.rules" -}}
- apiGroups: [turbine.dev]
  resources: [turbinestacks]
  verbs: [get, list, watch, patch]
- apiGroups: [turbine.dev]
  resources: [turbinestacks/status]
  verbs: [patch]
- apiGroups: [turbine.dev]
  resources: [turbinestacks/finalizers]
  verbs: [update]
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, watch]
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- end }}

{{/* The image reference: repository@digest when a digest pins it, else repository:tag. */}}
{{- define "turbine-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* The pod's affinity: `affinity` plus the podAntiAffinity preset, which keeps the replicas (a leader and its
standbys) on different nodes or zones. */}}
{{- define "turbine-operator.affinity" -}}
{{- $affinity := deepCopy .Values.affinity }}
{{- with .Values.podAntiAffinity }}
{{- if .mode }}
{{- if hasKey $affinity "podAntiAffinity" }}
{{- fail "podAntiAffinity.mode adds a podAntiAffinity to affinity, which already has one: set one or the other" }}
{{- end }}
{{- $term := dict "topologyKey" .topologyKey "labelSelector" (dict "matchLabels" (include "turbine-operator.selectorLabels" $ | fromYaml)) }}
{{- if eq .mode "hard" }}
{{- $_ := set $affinity "podAntiAffinity" (dict "requiredDuringSchedulingIgnoredDuringExecution" (list $term)) }}
{{- else }}
{{- $_ := set $affinity "podAntiAffinity" (dict "preferredDuringSchedulingIgnoredDuringExecution" (list (dict "weight" 100 "podAffinityTerm" $term))) }}
{{- end }}
{{- end }}
{{- end }}
{{- toYaml $affinity }}
{{- end }}
