{{/* The chart's name, at most 63 characters (a DNS label). */}}
{{- define "chargectl.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The name of the release's objects: the release name, with the chart's unless it has it. */}}
{{- define "chargectl.fullname" -}}
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

{{/* Labels that select the release's pods; they never change across upgrades. */}}
{{- define "chargectl.selectorLabels" -}}
app.kubernetes.io/name: {{ include "chargectl.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels for every object of the release. */}}
{{- define "chargectl.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "chargectl.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The ServiceAccount the operator runs as. */}}
{{- define "chargectl.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "chargectl.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The namespaces whose resources are the fleet: the release's own unless told otherwise. */}}
{{- define "chargectl.watchedNamespaces" -}}
{{- $namespaces := .Values.watch.namespaces | default (list .Release.Namespace) }}
{{- toJson (uniq $namespaces) }}
{{- end }}

{{/* The Secret holding the admin channel's tokens, one key per token named after it. */}}
{{- define "chargectl.adminSecretName" -}}
{{- .Values.admin.existingSecret | default (printf "%s-admin" (include "chargectl.fullname" .)) }}
{{- end }}

{{/* The claim holding the SQLite store. */}}
{{- define "chargectl.claimName" -}}
{{- .Values.persistence.existingClaim | default (printf "%s-data" (include "chargectl.fullname" .)) }}
{{- end }}

{{/* The image, by the chart's appVersion unless a tag is given. */}}
{{- define "chargectl.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
