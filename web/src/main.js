import { mount } from 'svelte';
import './app.css';
import App from './App.svelte';
import { startRouter } from './lib/router.svelte.js';

startRouter();
const app = mount(App, { target: /** @type {HTMLElement} */ (document.getElementById('app')) });

export default app;
