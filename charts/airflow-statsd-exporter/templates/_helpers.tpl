{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "ase.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Fully qualified app name. */}}
{{- define "ase.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "ase.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ase.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "ase.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "ase.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: statsd-exporter
{{- end -}}

{{- define "ase.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "ase.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "ase.configMapName" -}}
{{- default (include "ase.fullname" .) .Values.config.existingConfigMap -}}
{{- end -}}

{{/* The mapping file: the user's rules, layered on the profile by --statsd.profile. */}}
{{- define "ase.mappingFile" -}}
{{- $defaults := default (dict) .Values.config.defaults -}}
{{- $doc := dict "mappings" (default (list) .Values.config.mappings) -}}
{{- if $defaults -}}
{{- $_ := set $doc "defaults" $defaults -}}
{{- end -}}
# Rendered by the airflow-statsd-exporter chart from .Values.config
# (rules tried before the built-in profile when --statsd.profile=airflow).
{{ toYaml $doc }}
{{- end -}}

{{/* "name/path" for a file under files/, used for object names. */}}
{{- define "ase.fileSlug" -}}
{{- regexReplaceAll "[^a-z0-9-]+" (base . | trimSuffix (ext .) | lower) "-" | trimAll "-" -}}
{{- end -}}
