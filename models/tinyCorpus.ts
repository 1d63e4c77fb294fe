/**
 * The text the tiny models' weights are shaped from (written for met; no third-party text). Its
 * character and token statistics become the models' next-token preferences.
 */
export const TINY_CORPUS = `Once upon a time there was a small house by the river. The old man who lived there said that the river was older than the town.
In the morning we walked along the road to the market. The children ran ahead and the dog ran after them.
She opened the door and looked at the sky. It was a cold night, and the wind blew over the hills.
The king and the queen sat by the fire and told the story of the first day of summer.
A small bird sang in the garden. There was a tree in the garden, and the bird sat on the tree.
When the rain stopped, the light in the window came on and the town was quiet again.
The ship sailed far away over the sea. The sailors sang and the bells rang in the harbour.
My father told me that the mountain was the home of the wind. I remember the sound of it at night.
The teacher asked the children to read the letter. The letter said that the soldier would return in the spring.
Under the bridge the water was dark and still. Nobody knew why the horse ran into the forest.
The little girl found a key on the table. On the table lay a book, a cup and a candle.
They sat by the fire and talked about the long road home. The doctor came late and the night was long.
All the people in the town came to see the ship. The cat sat on the wall and watched the birds.
Long ago, in a land by the sea, there lived a man who made bells. His bells rang over the water.
The summer came and the fields were green. The children played by the river until the sun went down.
In the dark forest the trees were tall and the path was narrow. The soldier walked on and did not stop.
Far away, the sea was calm and the sky was clear. The light of the moon lay on the water like silver.
He looked at the sky and said that the rain would come again. She smiled and went back into the house.
`;
