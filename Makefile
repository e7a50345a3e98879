# Thin wrapper over the npm scripts, for people who reach for make.
BOARD ?= esp32-devkitc

.PHONY: all firmware test bench start clean
all: test

firmware:
	node scripts/build-firmware.mjs --board $(BOARD)

test:
	npm test

bench:
	npm run bench

start:
	npm start

clean:
	rm -rf build dist
