// Builds the test pages (React) into PAGES_OUT_DIR; the tests run it once per session.
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

const root = fileURLToPath(new URL(".", import.meta.url));

export default defineConfig({
  root,
  base: "./",
  plugins: [react()],
  logLevel: "warn",
  build: {
    outDir: process.env.PAGES_OUT_DIR,
    emptyOutDir: true,
    // CopilotKit alone is megabytes; these pages are only ever loaded from loopback.
    chunkSizeWarningLimit: 100000,
    rollupOptions: {
      input: { "ai-sdk": resolve(root, "ai-sdk.html"), copilotkit: resolve(root, "copilotkit.html") },
    },
  },
});
